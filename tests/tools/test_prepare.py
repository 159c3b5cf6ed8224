"""`python -m tools.prepare` on the shared photos (../shared/data/tryon: 14 persons, 19 garments), one
export per layout and framing (`person`, the default: each person's upper-garment working crop;
`--framing centre`: the sample's centre crop), every file checked the way its project's dataset
loader reads it (PIL and numpy, as the loaders do; the facts are quoted beside each check), the
exported image checked against its framing (centre: the datasets' own photos byte for byte;
person: the upper working crop, torso at the framing's share), then the round trip: the
project's own single-pair CLI (`tools.tryon --pose-json … --parse …`) reads the exported pose and
parse and renders the exported image into the same composite as the pose and parse the chain
had for that crop.

Loader facts (CP-VTON cp_dataset.py, CP-VTON+ cp_dataset.py, VITON-HD datasets.py, HR-VITON
cp_dataset.py / cp_dataset_test.py): data under <root>/<datamode>/, the pairs list at
<root>/<data_list>, `im_name, c_name = line.strip().split()`; a person NAME.jpg gives NAME.png
(parses) and NAME_keypoints.json / NAME_rendered.png (pose).
"""
from __future__ import annotations

import functools
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


EXPORTS = [(layout, framing) for layout in sorted(SIZES) for framing in ("person", "centre")]


@pytest.fixture(scope="module", params=EXPORTS, ids=[f"{layout}-{framing}" for layout, framing in EXPORTS])
def export(request, tryon_data, tmp_path_factory):
    """(layout, root, report, run): one `python -m tools.prepare` of the shared photos; the
    person framing as the default (no --framing), the centre framing asked for."""
    layout, framing = request.param
    root = tmp_path_factory.mktemp(f"{layout}-{framing}")
    run = _prepare(tryon_data, root, "--layout", layout, *(["--framing", framing] if framing != "person" else []),
                   env={"TRYON_CHAIN": "geometric"})
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((root / "report.json").read_text())
    assert report["framing"] == framing and f"({framing} framing)" in run.stdout
    return layout, root, report, run


@functools.lru_cache(maxsize=None)
def _chain_person(photo: str, framing: str):
    """The Person the export had for a photo: prepared in `framing` (the geometric chain, as
    the exports run) and framed for the export (an upper garment's working crop; centre: as is)."""
    from models import chain
    from models.contract import ChainOptions

    options = chain.options_for_framing(framing, ChainOptions(mode="geometric"))
    person = chain.prepare_person(cv2.imread(photo), options, name=Path(photo).name)
    return chain.frame_person(person, "upper")


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


# The shared photos framed like the datasets, at each layout's size: 192×256 (CP-VTON's VITON
# photos) and 768×1024 (VITON-HD's).
NATIVE = {"cp-vton": ["000001_0", "000010_0", "000174_0", "000258_0", "000501_0", "003491_0", "019561_0"],
          "viton-hd": ["00006_00", "00891_00", "03615_00", "07445_00", "07573_00", "08909_00", "10549_00"]}
NATIVE["hr-viton"] = NATIVE["viton-hd"]
POSE_PARSE = {"cp-vton": ("pose", "image-parse"), "viton-hd": ("openpose-json", "image-parse"),
              "hr-viton": ("openpose_json", "image-parse-v3")}


def _framing(root: Path) -> str:
    return json.loads((root / "report.json").read_text())["framing"]


def test_centre_framing_copies_the_datasets_own_photos_and_person_framing_crops_each_person(export, tryon_data):
    """centre: a photo of the layout's size is its own centre crop, so the file is copied byte
    for byte; person: the image is each person's upper working crop, never the photo itself."""
    layout, root, report, _ = export
    for name in NATIVE[layout]:
        exported = (root / "test" / "image" / f"{name}.jpg").read_bytes()
        photo = (tryon_data / "persons" / f"{name}.jpg").read_bytes()
        assert (exported == photo) == (report["framing"] == "centre"), name


def _torso_share(pose: np.ndarray, height: int) -> float:
    """Neck → mid-hip over the image's height, from an exported pose (COCO-18 or BODY_25)."""
    neck, hips = (pose[1], pose[[8, 11]]) if len(pose) == 18 else (pose[1], pose[[9, 12]])
    return float(np.hypot(*(neck[:2] - hips[:, :2].mean(axis=0))) / height)


def test_person_framing_exports_the_upper_working_crop(export, tryon_data):
    """Every person at the layout's size with the torso at the upper framing's share of the
    height (models/framing.py: 0.42, the VITON-HD photos' median), whatever the photo's own
    size and framing; the pixels are the chain's working crop of the photo, resized."""
    from models.export.encode import resize_to
    from models.framing import FRAMINGS

    layout, root, report, _ = export
    if report["framing"] != "person":
        return
    w, h = SIZES[layout]
    folder, key = {"cp-vton": ("pose", "pose_keypoints"), "viton-hd": ("openpose-json", "pose_keypoints_2d"),
                   "hr-viton": ("openpose_json", "pose_keypoints_2d")}[layout]
    shares = []
    for path in sorted((root / "test" / "image").iterdir()):
        image = cv2.imread(str(path))
        assert image.shape[:2] == (h, w), path.name
        doc = json.loads((root / "test" / folder / f"{path.stem}_keypoints.json").read_text())
        shares.append(_torso_share(np.array(doc["people"][0][key]).reshape(-1, 3), h))
    assert len(shares) == 14
    np.testing.assert_allclose(shares, FRAMINGS["upper"].share, atol=0.005)
    for name in ("000001_0", "00891_00"):   # one of each size: the working crop, resized
        person = _chain_person(str(tryon_data / "persons" / f"{name}.jpg"), "person")
        assert person.framing == "person" and person.crop_box != (0, 0, *person.photo.shape[1::-1])
        expected = resize_to(np.ascontiguousarray(person.crop), (w, h)).astype(int)
        exported = cv2.imread(str(root / "test" / "image" / f"{name}.jpg")).astype(int)
        assert np.abs(exported - expected).mean() < 3, name


def _chain_annotations(layout: str, person) -> tuple[np.ndarray, np.ndarray]:
    """(COCO-18 keypoints in pixels of the exported image, label ids at the layout's size) of the
    chain's Person, in the ids the layout's parse files hold (VITON-HD's: 10 the neck, < 20)."""
    from models.body import parse_at
    from models.contract import REPR_H, REPR_W
    from models.export.layouts import viton_hd_labels

    w, h = SIZES[layout]
    pixels = person.keypoints.astype(np.float64) * [w / REPR_W, h / REPR_H, 1]
    pixels[pixels[:, 2] <= 0] = 0
    labels = np.ascontiguousarray(parse_at(person.parse, (h, w)))
    return pixels, labels if layout == "cp-vton" else viton_hd_labels(person, labels)


def test_exported_pose_and_parse_are_the_chains_person(export, tryon_data):
    """The exported pose is the chain's Person's keypoints for the exported crop, exactly, in the
    image's pixels; the parse is its labels at the layout's size (as the CLI reads it back)."""
    from models.seed.openpose import BODY25_TO_COCO18
    from tools.tryon import read_parse

    layout, root, report, _ = export
    w, h = SIZES[layout]
    data = root / "test"
    pose, parse = POSE_PARSE[layout]
    for name in ("000001_0", "00891_00"):   # one photo of each size: one native, one resized
        person = _chain_person(str(tryon_data / "persons" / f"{name}.jpg"), report["framing"])
        pixels, labels = _chain_annotations(layout, person)
        doc = json.loads((data / pose / f"{name}_keypoints.json").read_text())["people"][0]
        points = np.array(doc.get("pose_keypoints_2d", doc.get("pose_keypoints"))).reshape(-1, 3)
        np.testing.assert_array_equal(points if len(points) == 18 else points[BODY25_TO_COCO18], pixels)
        np.testing.assert_array_equal(read_parse(str(data / parse / f"{name}.png"), (h, w), (0, 0, w, h)), labels)


@pytest.fixture
def tryon_cli(tmp_path):
    from tools import tryon

    def run(*args):
        png, npy = tmp_path / "out.png", tmp_path / "out.npy"
        assert tryon.main([*map(str, args), "-o", str(png), "--out-npy", str(npy), "--chain", "geometric"]) == 0
        return cv2.imread(str(png)), np.load(npy)
    return run


def test_round_trip_through_the_single_pair_cli_gives_the_same_composite(export, tryon_data, tryon_cli):
    """export → `tools.tryon --pose-json … --parse …` on the exported image → the composite the
    chain renders from the exported image with the pose and parse it had for that crop (held in
    memory, not read from the files): the files carry exactly what the chain had."""
    from models import chain
    from models.contract import ChainOptions, Person
    from models.seed.openpose import photo_keypoints_to_grid

    layout, root, report, _ = export
    w, h = SIZES[layout]
    data = root / "test"
    pose, parse = POSE_PARSE[layout]
    options = ChainOptions(mode="geometric", framing="centre")   # the exported image is the crop
    for name in ("000001_0", "00891_00"):
        image = data / "image" / f"{name}.jpg"
        pixels, labels = _chain_annotations(layout, _chain_person(str(tryon_data / "persons" / f"{name}.jpg"),
                                                                  report["framing"]))
        # into the grid as the CLI puts any photo's pose (float32, as read_openpose_json gives it)
        keypoints = photo_keypoints_to_grid(pixels.astype(np.float32), (0, 0, w, h))
        held = Person(photo=cv2.imread(str(image)), crop_box=(0, 0, w, h), keypoints=keypoints, parse=labels,
                      framing="centre", name=name)
        for garment in ("00006_00", "003491_1"):
            cloth = data / "cloth" / f"{garment}.jpg"
            given, given_tryon = tryon_cli(image, cloth, "--pose-json", data / pose / f"{name}_keypoints.json",
                                           "--parse", data / parse / f"{name}.png")
            [direct] = chain.render(held, [cv2.imread(str(cloth))], options)
            assert given.shape == (h, w, 3)
            np.testing.assert_array_equal(given, direct.image)
            np.testing.assert_allclose(given_tryon, direct.tryon, atol=1e-3)


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
