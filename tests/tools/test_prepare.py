"""`python -m tools.prepare` on the shared photos (../shared/data/tryon: 14 persons, 19 garments), one
export per layout, every file checked the way its project's dataset loader reads it (PIL and
numpy, as the loaders do; the facts are quoted beside each check), then the round trip: the
project's own single-pair CLI (`tools.tryon --pose-json … --parse …`) reads the exported pose
and parse and renders the same composite as from the photo itself.

Loader facts (CP-VTON cp_dataset.py, CP-VTON+ cp_dataset.py, VITON-HD datasets.py, HR-VITON
cp_dataset.py / cp_dataset_test.py): data under <root>/<datamode>/, the pairs list at
<root>/<data_list>, `im_name, c_name = line.strip().split()`; a person NAME.jpg gives NAME.png
(parses) and NAME_keypoints.json / NAME_rendered.png (pose).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from models.labels import LIP_PALETTE_RGB

REPO = Path(__file__).resolve().parents[2]
SIZES = {"cp-vton": (192, 256), "viton-hd": (768, 1024), "hr-viton": (768, 1024)}
PERSON_FOLDERS = {
    "cp-vton": {"image", "image-parse", "image-parse-new", "image-mask", "pose"},
    "viton-hd": {"image", "image-parse", "openpose-json", "openpose-img"},
    "hr-viton": {"image", "image-parse-v3", "image-parse-agnostic-v3.2", "agnostic-v3.2", "openpose_json",
                 "openpose_img"},
}
# VITON-HD and HR-VITON remap the 20 ids in the loader (labels = {0: background [0, 10], 1: hair [1, 2],
# 2: face [4, 13], 3: upper [5, 6, 7], 4: bottom [9, 12], 5–10: arms, legs, shoes [14]…[19],
# 11: socks [8], 12: noise [3, 11]}) after `scatter_` into 20 channels: every id must be < 20.
VITON_HD_REMAP = {0: [0, 10], 1: [1, 2], 2: [4, 13], 3: [5, 6, 7], 4: [9, 12], 5: [14], 6: [15], 7: [16], 8: [17],
                  9: [18], 10: [19], 11: [8], 12: [3, 11]}


def _prepare(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.prepare", *map(str, args)], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO), **(env or {})),
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module", params=sorted(SIZES))
def export(request, tryon_data, tmp_path_factory):
    """(layout, root, report, run): one `python -m tools.prepare` of the shared photos."""
    layout = request.param
    root = tmp_path_factory.mktemp(layout)
    run = _prepare(tryon_data, root, "--layout", layout, env={"TRYON_CHAIN": "geometric"})
    assert run.returncode == 0, run.stdout + run.stderr
    return layout, root, json.loads((root / "report.json").read_text()), run


def _pairs(root: Path) -> list[tuple[str, str]]:
    return [tuple(line.strip().split()) for line in (root / "test_pairs.txt").read_text().splitlines()]


def test_every_shared_photo_is_exported_with_every_file_its_loader_opens(export, tryon_data):
    layout, root, report, run = export
    persons = sorted(p.stem for p in (tryon_data / "persons").glob("*.jpg"))
    garments = sorted(p.stem for p in (tryon_data / "garments").glob("*.jpg"))
    assert report["counts"] == {"persons": 14, "persons_exported": 14, "garments": 19, "garments_exported": 19,
                                "failed": 0, "invalid_inputs": 0, "pairs": 14 * 19}
    pairs = _pairs(root)
    assert pairs == [(f"{p}.jpg", f"{g}.jpg") for p in persons for g in garments]
    data = root / "test"
    assert {d.name for d in data.iterdir()} == PERSON_FOLDERS[layout] | {"cloth", "cloth-mask"}
    for im_name, c_name in pairs[::19]:
        assert (data / "cloth" / c_name).is_file() and (data / "cloth-mask" / c_name).is_file()
        assert (data / "image" / im_name).is_file()
        parse = im_name.replace(".jpg", ".png")
        keypoints = im_name.replace(".jpg", "_keypoints.json")
        rendered = im_name.replace(".jpg", "_rendered.png")
        expected = {"cp-vton": ["image-parse/" + parse, "image-parse-new/" + parse, "image-mask/" + parse,
                                "pose/" + keypoints],
                    "viton-hd": ["image-parse/" + parse, "openpose-json/" + keypoints, "openpose-img/" + rendered],
                    "hr-viton": ["image-parse-v3/" + parse, "image-parse-agnostic-v3.2/" + parse,
                                 "agnostic-v3.2/" + im_name, "openpose_json/" + keypoints,
                                 "openpose_img/" + rendered]}[layout]
        for rel in expected:
            assert (data / rel).is_file(), rel
    if layout == "hr-viton":
        # HR-VITON opens image-densepose/<name>.jpg: not computed here, said so, nothing written under that name.
        assert "left out: image-densepose/" in run.stdout and not (data / "image-densepose").exists()
        assert report["left_out"][0]["folder"] == "test/image-densepose/"
        # its test loader opens cloth/<person>.jpg ('paired') too: only 00006_00 has a garment of its name
        assert len(report["unpaired_persons"]) == 13 and "00006_00" not in report["unpaired_persons"]


def test_images_and_cloth_are_rgb_jpegs_of_the_layout_size(export):
    layout, root, _, _ = export
    for folder in ("image", "cloth") + (("agnostic-v3.2",) if layout == "hr-viton" else ()):
        for path in (root / "test" / folder).iterdir():
            with Image.open(path) as image:   # `transforms.Normalize` on 3 channels; Resize(768) keeps 768×1024
                assert (image.format, image.mode, image.size) == ("JPEG", "RGB", SIZES[layout]), path


def test_cloth_masks_threshold_to_the_garment(export, tryon_data):
    """CP-VTON: `(np.array(cm) > 200)`; CP-VTON+, VITON-HD, HR-VITON: `>= 128` (after a nearest Resize)."""
    layout, root, _, _ = export
    for path in (root / "test" / "cloth-mask").iterdir():
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "L", SIZES[layout])
            m = np.array(image)
        np.testing.assert_array_equal(m > 200, m >= 128)
        # against the dataset's own mask of that garment
        given = Image.open(tryon_data / "cloth_mask" / path.name).convert("L").resize(SIZES[layout], Image.NEAREST)
        ours, theirs = m >= 128, np.array(given) >= 128
        assert (ours & theirs).sum() / (ours | theirs).sum() > 0.9, path.name


def test_parses_are_label_id_pngs_the_loaders_read(export, tryon_data):
    layout, root, _, _ = export
    data = root / "test"
    names = [p.stem for p in (data / "image").iterdir()]
    if layout == "cp-vton":
        for name in names:
            with Image.open(data / "image-parse" / f"{name}.png") as parse:
                # convert_data.m: imwrite(segment, human_colormap) → indexed PNG; LIP ids
                assert parse.mode == "P" and parse.size == (192, 256)
                np.testing.assert_array_equal(np.array(parse.getpalette()[:60]).reshape(20, 3), LIP_PALETTE_RGB)
                ids = np.array(parse)
            assert set(np.unique(ids)) <= set(range(20)) and {5, 13} <= set(np.unique(ids))
            # CP-VTON+: image-parse-new (cv2-written, 1 channel, neck/skin 20), image-mask (shape: mask > 0)
            with Image.open(data / "image-parse-new" / f"{name}.png") as new:
                assert new.mode == "L"
                new_ids = np.array(new)
            np.testing.assert_array_equal(new_ids == 20, ids == 10)
            np.testing.assert_array_equal(np.where(new_ids == 20, 10, new_ids), ids)
            with Image.open(data / "image-mask" / f"{name}.png") as mask:
                assert mask.mode == "L"
                np.testing.assert_array_equal(np.array(mask) > 0, ids > 0)
        return
    folder = "image-parse" if layout == "viton-hd" else "image-parse-v3"
    with Image.open(tryon_data / "parse" / "00891_00.png") as dataset_file:
        dataset_palette = dataset_file.getpalette()
    for name in names:
        with Image.open(data / folder / f"{name}.png") as parse:
            # HR-VITON's Preprocessing.md: "saved … using PIL.Image with P mode … 0~19 uint values"
            assert parse.mode == "P" and parse.size == (768, 1024)
            assert parse.getpalette() == dataset_palette   # the VITON-HD files' own palette
            ids = np.array(parse)
        present = set(np.unique(ids).tolist())
        assert present <= set(range(20)) and present <= {i for ids_ in VITON_HD_REMAP.values() for i in ids_}
        assert {0, 5, 10, 13} <= present    # background, upper clothes, neck (VITON-HD's 10), face


def test_pose_json_follows_each_loaders_schema(export):
    layout, root, _, _ = export
    w, h = SIZES[layout]
    folder, key, n = {"cp-vton": ("pose", "pose_keypoints", 18), "viton-hd": ("openpose-json", "pose_keypoints_2d", 25),
                      "hr-viton": ("openpose_json", "pose_keypoints_2d", 25)}[layout]
    for path in (root / "test" / folder).iterdir():
        doc = json.loads(path.read_text())
        pose = np.array(doc["people"][0][key]).reshape((-1, 3))   # as the loaders reshape it
        assert pose.shape == (n, 3)
        found = pose[:, 2] > 0
        assert (pose[~found] == 0).all()
        assert (pose[found, 0] >= 0).all() and (pose[found, 0] < w).all() and (pose[found, 1] < h).all()
        if n == 25:
            # VITON-HD/HR-VITON's agnostics use 1 (neck), 2/5 (shoulders), 9/12 (hips): BODY_25 indices
            assert found[[1, 2, 5, 9, 12]].all(), path.name
            np.testing.assert_allclose(pose[8, :2], (pose[9, :2] + pose[12, :2]) / 2)
            assert doc["version"] == 1.3 and doc["people"][0]["person_id"] == [-1]
        else:
            assert doc["version"] == 1.0 and found[[1, 2, 5]].all(), path.name


def test_rendered_skeletons_are_rgb_on_black(export):
    layout, root, _, _ = export
    if layout == "cp-vton":   # CP-VTON draws its pose maps from the JSON itself: no image to write
        assert not [d for d in (root / "test").iterdir() if "openpose" in d.name]
        return
    folder = "openpose-img" if layout == "viton-hd" else "openpose_img"
    for path in (root / "test" / folder).iterdir():
        with Image.open(path) as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (768, 1024))
            rgb = np.array(image)
        assert (rgb.max(axis=2) == 0).mean() > 0.9 and rgb.max() == 255


def test_hr_viton_agnostic_maps(export):
    layout, root, _, _ = export
    if layout != "hr-viton":  # VITON-HD and CP-VTON compute theirs in the loader
        assert not [d for d in (root / "test").iterdir() if "agnostic" in d.name]
        return
    data = root / "test"
    for path in (data / "image").iterdir():
        name = path.stem
        parse = np.array(Image.open(data / "image-parse-v3" / f"{name}.png"))
        with Image.open(data / "image-parse-agnostic-v3.2" / f"{name}.png") as pa:
            assert pa.mode == "P" and pa.size == (768, 1024)
            agn_ids = np.array(pa)
        # get_parse_agnostic.py: upper (5, 6, 7) and neck (10) become 0, arms (14, 15) only near their bones
        assert not np.isin(agn_ids, (5, 6, 7, 10)).any()
        untouched = ~np.isin(parse, (5, 6, 7, 10, 14, 15))
        np.testing.assert_array_equal(agn_ids[untouched], parse[untouched])
        assert set(np.unique(agn_ids[np.isin(parse, (14, 15))])) <= {0, 14, 15}
        # agnostic-v3.2: the photo, gray (128) over the upper garment, the head and lower body kept
        photo = np.array(Image.open(path)).astype(int)
        agn = np.array(Image.open(data / "agnostic-v3.2" / f"{name}.jpg")).astype(int)
        upper = parse == 5
        assert np.abs(agn[upper] - 128).max(axis=1).mean() < 6, name        # JPEG: near 128
        head = np.isin(parse, (4, 13))
        assert np.abs(agn[head] - photo[head]).mean() < 4, name


@pytest.fixture
def tryon_cli(tmp_path):
    from tools import tryon

    def run(*args):
        png, npy = tmp_path / "out.png", tmp_path / "out.npy"
        assert tryon.main([*map(str, args), "-o", str(png), "--out-npy", str(npy), "--chain", "geometric"]) == 0
        return cv2.imread(str(png)), np.load(npy)
    return run


# (layout, person, pose folder, parse folder): persons whose photo already is the layout's size
# are copied unchanged, so "from the photo directly" is the exported image itself.
NATIVE = [("cp-vton", "000001_0", "pose", "image-parse"), ("viton-hd", "00891_00", "openpose-json", "image-parse"),
          ("hr-viton", "07445_00", "openpose_json", "image-parse-v3")]


def test_round_trip_through_the_single_pair_cli_gives_the_same_composite(export, tryon_data, tryon_cli):
    layout, root, _, _ = export
    _, name, pose, parse = next(n for n in NATIVE if n[0] == layout)
    data = root / "test"
    image = data / "image" / f"{name}.jpg"
    assert image.read_bytes() == (tryon_data / "persons" / f"{name}.jpg").read_bytes()
    for garment in ("00006_00", "003491_1"):
        cloth = data / "cloth" / f"{garment}.jpg"
        given, given_tryon = tryon_cli(image, cloth, "--pose-json", data / pose / f"{name}_keypoints.json",
                                       "--parse", data / parse / f"{name}.png")
        direct, direct_tryon = tryon_cli(tryon_data / "persons" / f"{name}.jpg", cloth)
        np.testing.assert_array_equal(given, direct)
        np.testing.assert_allclose(given_tryon, direct_tryon, atol=1e-3)


def test_resized_persons_read_back_as_the_persons_annotations(export, tryon_data, tryon_cli):
    """A photo of another size is the crop resized: its pose and parse are the Person's, scaled
    (the CLI's readers give back the keypoints and the nearest-resized labels), and rendering
    from them lands the garment where rendering the exported image from scratch does."""
    from models import chain
    from models.body import parse_at
    from models.contract import ChainOptions
    from tools.tryon import read_keypoints, read_parse

    layout, root, _, _ = export
    name = "00891_00" if layout == "cp-vton" else "000001_0"
    w, h = SIZES[layout]
    data = root / "test"
    pose, parse = {"cp-vton": ("pose", "image-parse"), "viton-hd": ("openpose-json", "image-parse"),
                   "hr-viton": ("openpose_json", "image-parse-v3")}[layout]
    person = chain.prepare_person(cv2.imread(str(tryon_data / "persons" / f"{name}.jpg")),
                                  ChainOptions(mode="geometric"), name=name)
    keypoints = read_keypoints(str(data / pose / f"{name}_keypoints.json"), (0, 0, w, h))
    np.testing.assert_allclose(keypoints, person.keypoints, atol=1e-4)
    labels = read_parse(str(data / parse / f"{name}.png"), (h, w), (0, 0, w, h))
    np.testing.assert_array_equal(labels, parse_at(person.parse, (h, w)))
    cloth = data / "cloth" / "00006_00.jpg"
    given, _ = tryon_cli(data / "image" / f"{name}.jpg", cloth, "--pose-json", data / pose / f"{name}_keypoints.json",
                         "--parse", data / parse / f"{name}.png")
    direct, _ = tryon_cli(data / "image" / f"{name}.jpg", cloth)
    assert (np.abs(given.astype(int) - direct.astype(int)).max(axis=2) > 8).mean() < 0.1


def test_bad_inputs_are_reported_per_file_and_the_rest_is_written(tmp_path):
    from scripts import demo_inputs

    src, out = tmp_path / "src", tmp_path / "out"
    (src / "persons" / "team").mkdir(parents=True)
    (src / "garments").mkdir()
    people, cloth = demo_inputs.customers(), demo_inputs.garments()
    (src / "persons" / "astronaut.jpg").write_bytes(demo_inputs.encode(people["astronaut"]))
    (src / "persons" / "team" / "my image.png").write_bytes(demo_inputs.encode(people["astronaut-reframed"], ".png"))
    (src / "persons" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (src / "persons" / "empty-wall.jpg").write_bytes(demo_inputs.encode(np.full((512, 384, 3), 200, np.uint8)))
    (src / "persons" / "notes.txt").write_text("not a photo")
    (src / "garments" / "blank.jpg").write_bytes(demo_inputs.encode(np.full((256, 192, 3), 250, np.uint8)))
    (src / "garments" / "red tee.jpg").write_bytes(demo_inputs.encode(cloth["navy-tee"]))
    (src / "garments" / "red_tee.png").write_bytes(demo_inputs.encode(cloth["red-tee"], ".png"))  # same exported name
    run = _prepare(src, out, "--layout", "viton-hd", env={"TRYON_CHAIN": "geometric"})
    assert run.returncode == 1, run.stdout + run.stderr
    report = json.loads((out / "report.json").read_text())
    reasons = {f["key"]: f["reason"] for f in report["failures"] + report["invalid"]}
    assert set(reasons) == {"persons/broken.jpg", "persons/empty-wall.jpg", "persons/notes.txt",
                            "garments/blank.jpg", "garments/red_tee.png"}, reasons
    assert "not a decodable image" in reasons["persons/broken.jpg"]
    assert "no person found" in reasons["persons/empty-wall.jpg"]
    assert "no garment found" in reasons["garments/blank.jpg"]
    assert "like 'garments/red tee.jpg'" in reasons["garments/red_tee.png"]
    for key, reason in reasons.items():
        assert key in reason and (f"failed: {reason}" in run.stdout or f"invalid: {reason}" in run.stdout)
    assert _pairs(out) == [("astronaut.jpg", "red_tee.jpg"), ("team_my_img.jpg", "red_tee.jpg")]
    assert (out / "test" / "openpose-img" / "team_my_img_rendered.png").is_file()
    assert not (out / "test" / "image" / "broken.jpg").exists()
    assert _prepare(tmp_path / "nowhere", out, "--layout", "viton-hd").returncode == 2
