"""End to end: `python -m tools.prepare --bucket … --wait` (what `make prepare BUCKET=… LAYOUT=…`
runs) on SeaweedFS + Redis + a real Celery worker running the real chain.

A render run first fills the person cache; the export (default framing: `person`, the framing
render runs prepare persons in) then reuses those persons (none is analysed again), writes
export/<layout>/… into the bucket with the same bytes a folder export of the same photos writes,
reports each bad input with its reason and goes on with the rest. A `--framing centre` export
prepares centre-framed persons of its own (cached: a second one reuses them), the same bytes as
a folder export in that framing.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from scripts import demo_inputs

pytestmark = pytest.mark.slow

GOOD_CUSTOMERS = {"astronaut": "astronaut", "team/astronaut-reframed": "astronaut-reframed"}
GARMENTS = ["red-tee", "navy-tee"]




@pytest.fixture(scope="module")
def bucket_export(stack, worker_proc, s3_client, storage_for, chain_ready, tmp_path_factory):
    bucket = "e2e-export"
    s3_client.create_bucket(Bucket=bucket)
    st = storage_for(bucket)
    src = tmp_path_factory.mktemp("export-src")
    people, cloth = demo_inputs.customers(), demo_inputs.garments()
    uploads = {f"customers/{key}.jpg": demo_inputs.encode(people[photo]) for key, photo in GOOD_CUSTOMERS.items()}
    uploads.update({f"catalogue/{g}.png": demo_inputs.encode(cloth[g], ".png") for g in GARMENTS})
    uploads.update({
        "customers/broken.jpg": b"\xff\xd8 truncated",
        "customers/empty-wall.jpg": demo_inputs.encode(np.full((512, 384, 3), 200, np.uint8)),
        "customers/notes.txt": b"not a photo",
        "catalogue/blank.jpg": demo_inputs.encode(np.full((256, 192, 3), 250, np.uint8)),
    })
    for key, body in uploads.items():
        st.put(key, body, "application/octet-stream")
        local = src / key   # the same keys: SRC/customers/…, SRC/catalogue/…
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(body)

    def run(*args, timeout=600):
        return subprocess.run([sys.executable, *args], env=stack.env, capture_output=True, text=True, timeout=timeout)

    render = run("-m", "producer", "--bucket", bucket, "--wait", "--timeout", "400")
    assert "run " in render.stdout, render.stdout + render.stderr
    export = run("-m", "tools.prepare", "--bucket", bucket, "--layout", "viton-hd", "--wait", "--timeout", "400")
    return {"storage": st, "src": src, "export": export, "report": st.get_json("export/viton-hd/report.json")}


def test_bucket_export_writes_the_layout_and_reports_bad_inputs(bucket_export):
    run, report, st = bucket_export["export"], bucket_export["report"], bucket_export["storage"]
    assert run.returncode == 1, run.stdout + run.stderr         # some inputs failed: said, not hidden
    assert report is not None and report["layout"] == "viton-hd" and report["source"].startswith("s3://e2e-export/")
    assert report["counts"] == {"persons": 4, "persons_exported": 2, "garments": 3, "garments_exported": 2,
                                "failed": 3, "invalid_inputs": 1, "pairs": 4}
    reasons = {f["key"]: f["reason"] for f in report["failures"] + report["invalid"]}
    assert "not a decodable image" in reasons["customers/broken.jpg"]
    assert "no person found" in reasons["customers/empty-wall.jpg"]
    assert "no garment found" in reasons["catalogue/blank.jpg"]
    assert "not an image" in reasons["customers/notes.txt"]
    for reason in reasons.values():
        assert reason in run.stdout
    pairs = st.get("export/viton-hd/test_pairs.txt").body.decode().splitlines()
    assert pairs == [f"{p}.jpg {g}.jpg" for p in ("astronaut", "team_astronaut-reframed") for g in GARMENTS[::-1]]
    keys = {o.key for o in st.list("export/viton-hd/")}
    for p in ("astronaut", "team_astronaut-reframed"):
        assert {f"export/viton-hd/test/image/{p}.jpg", f"export/viton-hd/test/image-parse/{p}.png",
                f"export/viton-hd/test/openpose-json/{p}_keypoints.json",
                f"export/viton-hd/test/openpose-img/{p}_rendered.png"} <= keys
    assert not any("broken" in k or "empty-wall" in k or "blank" in k for k in keys)


def test_bucket_export_reuses_the_persons_the_render_run_cached(bucket_export):
    persons = [p for p in bucket_export["report"]["persons"] if p["status"] == "exported"]
    assert len(persons) == 2 and all(p["person_cached"] for p in persons), persons


def _same_bytes_as_a_folder_export(st, src, out, root: str, bucket_report: dict, framing: str) -> None:
    from tools.prepare import export_folder

    report = export_folder(src, out, "viton-hd", persons="customers", garments="catalogue",
                           chain_mode="geometric", framing=framing)
    assert report["counts"]["persons_exported"] == 2 and report["counts"]["garments_exported"] == 2
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    for rel in written:
        if rel == "report.json":
            continue
        assert st.get(f"{root}{rel}").body == (out / rel).read_bytes(), rel
    bucket_files = {o.key[len(root):] for o in st.list(root)}
    assert bucket_files == set(written)
    local = json.loads((out / "report.json").read_text())
    for field in ("failures", "invalid", "counts", "framing", "chain"):
        assert local[field] == bucket_report[field], field


def test_bucket_and_folder_exports_write_the_same_bytes(bucket_export, tmp_path):
    assert bucket_export["report"]["framing"] == "person"
    _same_bytes_as_a_folder_export(bucket_export["storage"], bucket_export["src"], tmp_path, "export/viton-hd/",
                                   bucket_export["report"], "person")


@pytest.fixture(scope="module")
def centre_exports(bucket_export, stack):
    """Two `--framing centre` exports after the default one (under export-centre/, beside it):
    viton-hd, then cp-vton."""
    st = bucket_export["storage"]

    def run(layout):
        done = subprocess.run([sys.executable, "-m", "tools.prepare", "--bucket", "e2e-export", "--layout", layout,
                               "--framing", "centre", "--prefix", "export-centre/", "--wait", "--timeout", "400"],
                              env=stack.env, capture_output=True, text=True, timeout=600)
        return done, st.get_json(f"export-centre/{layout}/report.json")
    return {layout: run(layout) for layout in ("viton-hd", "cp-vton")}


def test_a_centre_export_prepares_and_caches_its_own_persons(bucket_export, centre_exports):
    """The render run's persons are person-framed: a centre export cannot use them; it prepares
    centre-framed ones (under another chain version), which the next centre export reuses."""
    first, second = centre_exports["viton-hd"][1], centre_exports["cp-vton"][1]
    for report in (first, second):
        assert report["framing"] == "centre" and report["counts"]["persons_exported"] == 2, report
    assert report["chain"] != bucket_export["report"]["chain"]
    assert [p["person_cached"] for p in first["persons"] if p["status"] == "exported"] == [False, False]
    assert [p["person_cached"] for p in second["persons"] if p["status"] == "exported"] == [True, True]
    run = centre_exports["viton-hd"][0]
    assert run.returncode == 1 and "(centre framing)" in run.stdout, run.stdout + run.stderr


def test_a_centre_export_writes_the_centre_crop_like_a_folder_export(bucket_export, centre_exports, tmp_path):
    st = bucket_export["storage"]
    _same_bytes_as_a_folder_export(st, bucket_export["src"], tmp_path, "export-centre/viton-hd/",
                                   centre_exports["viton-hd"][1], "centre")
    person = st.get("export/viton-hd/test/image/astronaut.jpg").body
    assert st.get("export-centre/viton-hd/test/image/astronaut.jpg").body != person    # another framing
