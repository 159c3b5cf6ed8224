"""Per-stage medians for the geometric chain and the seed chain, on one real-size photo.

Stages: crop, pose, parsing, person representation, warp (seed: GMM, then TPS + sampling),
render (seed: TOM, then composition), paste-back. For the seed's ONNX networks both engines
are timed side by side (bench.onnx_nets). The seed's OpenPose and LIP JPPNet are timed only
where their files are present, else reported absent; the seed's GMM/TOM stages run on the
real-size random-weight builds, fed by the geometric chain's pose and parsing.

The BlazePose stage keeps a per-crop cache that lets the parsing stage reuse the pose pass
(that is how the chain runs): pose is timed with the cache cleared, parsing after it.
"""
from __future__ import annotations

import numpy as np

from bench.harness import median_seconds


def _row(chain: str, stage: str, t: dict | None, engine: str = "", batch: int = 1,
         note: str = "", status: str = "ok") -> dict:
    row = {"chain": chain, "stage": stage, "engine": engine, "batch": batch, "status": status, "note": note}
    if t is not None:
        row.update(median_ms=t["median_s"] * 1000, per_pair_ms=t["median_s"] * 1000 / batch, reps=t["reps"])
        if "min_s" in t:
            row["min_per_pair_ms"] = t["min_s"] * 1000 / batch
    return row


def _try(rows: list, chain: str, stage: str, fn, reps: int, log, **kw) -> object:
    """Time fn; on failure record the reason as the stage's status. Returns fn's last result."""
    box = {}

    def run():
        box["out"] = fn()
    try:
        t = median_seconds(run, reps=reps, warmup=1)
    except Exception as exc:  # noqa: BLE001 — a stage that cannot run is reported, not estimated
        rows.append(_row(chain, stage, None, status=f"failed: {type(exc).__name__}: {exc}", **kw))
        log(f"  {chain:9s} {stage:24s} FAILED {type(exc).__name__}: {exc}")
        return None
    rows.append(_row(chain, stage, t, **kw))
    log(f"  {chain:9s} {stage:24s} {kw.get('engine', ''):12s} {rows[-1]['per_pair_ms']:8.1f} ms/pair")
    return box.get("out")


def bench_geometric(photo, garment, reps: int, batch: int, log) -> tuple[list, object]:
    from models import chain
    from models.crop import centre_crop_box
    from models.paste_back import paste_back

    rows: list = []
    stage = chain.stages(("geometric", False))
    crop_box = centre_crop_box(*photo.shape[:2])
    x0, y0, x1, y1 = crop_box
    crop = _try(rows, "geometric", "crop", lambda: photo[y0:y1, x0:x1].copy(), reps, log)

    pose = _try(rows, "geometric", "pose", lambda: stage["pose"].keypoints(crop), reps, log)
    parsed = _try(rows, "geometric", "parsing", lambda: stage["parsing"].parse(crop, *pose), reps, log,
                  note="reuses the pose pass on the same crop")
    person = chain.prepare_person(photo)
    for b in sorted({1, batch}):
        warped = _try(rows, "geometric", "warp", lambda: stage["warp"].warp(person, [garment] * b, [None] * b),
                      reps, log, batch=b)
        rendered = _try(rows, "geometric", "composition", lambda: stage["render"].render(person, warped),
                        reps, log, batch=b) if warped is not None else None
    if rendered:
        _try(rows, "geometric", "paste-back", lambda: paste_back(photo, crop_box, rendered[0]), reps, log)
    del parsed
    return rows, person


def bench_seed(person, garment, reps: int, batch: int, onnx_result: dict | None, log) -> list:
    """The seed chain's stages. Networks: absent → reported; GMM/TOM: real-size random builds."""
    from models.seed import lip_jppnet, openpose

    rows: list = []
    for stage_name, cls in (("pose", openpose.OpenPose), ("parsing", lip_jppnet.LipJppNet)):
        if not cls.available():
            rows.append(_row("seed", stage_name, None, status="absent",
                             note="weights absent on this machine: not timed"))
            log(f"  seed      {stage_name:24s} absent (weights not present)")
        else:
            net = cls.load()
            crop = person.crop
            if stage_name == "pose":
                _try(rows, "seed", stage_name, lambda: net.keypoints(crop), reps, log)
            else:
                _try(rows, "seed", stage_name, lambda: net.parse(crop, person.keypoints, {}), reps, log)

    from models.seed import representation
    agnostic = _try(rows, "seed", "person representation", lambda: representation.person_representation(person), reps, log,
                    note="fed by the geometric pose and parsing")
    # GMM and TOM forward passes: from the ONNX part (both engines, batch 1 and the batch size).
    for run in (onnx_result or {}).get("runs", []):
        if "error" in run:
            continue
        name = {"gmm_custom": "GMM (custom Correlation)", "gmm_rewritten": "GMM", "tom": "TOM"}[run["net"]]
        rows.append(_row("seed", name, {"median_s": run["median_s"], "min_s": run["min_s"], "reps": run["reps"]},
                         engine=run["engine"], batch=run["batch"], note="real-size random weights"))

    from models.seed.sampler import bilinear_sample
    from models.tps import cpvton_grid
    import cv2
    cloth = (cv2.resize(garment, (192, 256)).astype(np.float32) / 127.5 - 1).transpose(2, 0, 1)[None]
    rng = np.random.default_rng(0)
    for b in sorted({1, batch}):
        theta = rng.uniform(-0.1, 0.1, size=(b, 50)).astype(np.float32)
        clothes = np.repeat(cloth, b, axis=0)
        _try(rows, "seed", "TPS + sampling", lambda: bilinear_sample(clothes, cpvton_grid(theta)), reps, log,
             batch=b)

    # The whole seed warp and render stages (glue included: representation, blobs, garment
    # masks warped alongside) on the real-size builds, with the chain's default engine.
    from bench.onnx_nets import built_nets
    from models.onnx.runner import configured_engine
    from models.seed import gmm, tom
    nets = built_nets(64)
    warp_stage = gmm.GmmWarp.load(gmm=str(nets["gmm_custom"]))
    render_stage = tom.TomRenderer.load(tom=str(nets["tom"]))
    for b in sorted({1, batch}):
        w = _try(rows, "seed", "warp (whole stage)", lambda: warp_stage.warp(person, [garment] * b, [None] * b),
                 reps, log, batch=b, engine=configured_engine(),
                 note="GMM + TPS + sampling + mask; GMM branches and mask cached after the warm-up, "
                      "as for a garment's every customer after its first")
        if w is not None:
            _try(rows, "seed", "render (whole stage)", lambda: render_stage.render(person, w), reps, log, batch=b,
                 engine=configured_engine(), note="TOM + composition")
    del warp_stage, render_stage

    from models.paste_back import paste_back
    from models.seed.composition import compose_tom
    for b in sorted({1, batch}):
        tom_out = rng.standard_normal((b, 4, 256, 192)).astype(np.float32)
        warped = rng.uniform(-1, 1, size=(b, 3, 256, 192)).astype(np.float32)
        composed = _try(rows, "seed", "composition", lambda: compose_tom(tom_out, warped), reps, log, batch=b)
    if composed is not None:
        _try(rows, "seed", "paste-back", lambda: paste_back(person.photo, person.crop_box, composed[0]), reps, log,
             note="256×192 try-on into the photo")
    del agnostic
    return rows


def bench_stages(reps: int, threads: int, batch: int = 4, onnx_result: dict | None = None, log=print) -> dict:
    from bench.pairs import load_images

    (photo_name, photo), = load_images("persons", 1)
    (garment_name, garment), = load_images("garments", 1)
    log(f"  photo {photo_name} {photo.shape[1]}×{photo.shape[0]}, garment {garment_name}")
    rows, person = bench_geometric(photo, garment, reps, batch, log)
    rows += bench_seed(person, garment, reps, batch, onnx_result, log)
    return {"photo": photo_name, "photo_size": [photo.shape[1], photo.shape[0]], "garment": garment_name,
            "threads": threads, "rows": rows}
