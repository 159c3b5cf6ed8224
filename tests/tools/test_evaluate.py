"""tools/evaluate.py: the person metrics (PCK@0.2·torso, body/head IoU, GT loading), SSIM, the
contact sheet, and `make eval` in small (the CLI on a two-photo, two-garment slice of the
dataset: symlinks in a temporary folder; nothing is copied into the repository)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tools import evaluate as ev

REPO = Path(__file__).resolve().parents[2]
PAIRS = (("00006_00", "00006_00"), ("003491_0", "003491_1"))  # the paired cases
FOLDERS = {"persons": "{p}.jpg", "parse": "{p}.png", "pose_json": "{p}_keypoints.json"}


def _slice(data: Path, root: Path) -> Path:
    for folder in (*FOLDERS, "garments", "cloth_mask"):
        (root / folder).mkdir(parents=True)
    for person, garment in PAIRS:
        for folder, pattern in FOLDERS.items():
            (root / folder / pattern.format(p=person)).symlink_to(data / folder / pattern.format(p=person))
        for folder in ("garments", "cloth_mask"):
            (root / folder / f"{garment}.jpg").symlink_to(data / folder / f"{garment}.jpg")
    return root


def test_make_eval_on_a_slice_writes_metrics_and_a_contact_sheet(tryon_data, tmp_path):
    data, out = _slice(tryon_data, tmp_path / "data"), tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "tools.evaluate", str(data), str(out)], cwd=REPO,
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "TRYON_CHAIN": "registry", "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("pose_pck", "body_iou", "head_iou", "warp_iou", "paired_ssim"):
        assert key in metrics, key
    assert set(metrics["per_case"]) == {p for p, _ in PAIRS}
    # Floors a little below the full evaluation's figures on these two photos (README).
    assert metrics["body_iou"] >= 0.92 and metrics["head_iou"] >= 0.85
    assert metrics["warp_iou"] >= 0.75 and metrics["paired_ssim"] >= 0.80
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    # garments along the top, persons down the left: a 3 × 3 grid of 256-row cells
    assert sheet is not None and sheet.shape[0] == 3 * 256 and sheet.shape[1] == 3 * 192
    assert float(sheet.std()) > 10  # not a blank page
    # the cross product of the slice's persons and garments: every pair accounted for, none crashed
    counts = metrics["cross_product"]["counts"]
    assert counts["pairs"] == 4 and counts["crashed"] == 0
    assert counts["rendered"] + counts["refused"] + counts["crashed"] == counts["pairs"]
    assert 0 <= counts["flagged"] <= counts["rendered"]
    pairs = json.loads((out / "cross_product.json").read_text())["pairs"]
    assert {(p["person"], p["garment"]) for p in pairs} == {(f"tryon:{a}", f"tryon:{b}") for a, _ in PAIRS
                                                           for _, b in PAIRS}
    assert all(p["qa"]["status"] in ("ok", "needs_review") for p in pairs if p["status"] == "rendered")
    for name in ("cross_product.png", "cross_product_tryon.png"):
        assert cv2.imread(str(out / name)) is not None, name


def test_contact_sheet_through_the_geometric_chain(tryon_data, tmp_path):
    """A 2×2 contact sheet via models.chain (geometric stages): garments along the top, persons
    down the left, and each cell a changed photo."""
    import pytest

    from models.contract import ChainOptions
    from models.geometric.blazepose import BlazePose
    from models.geometric.parsing import GeometricParser
    from tools.evaluate import contact_sheet

    if not (BlazePose.available() and GeometricParser.available()):
        pytest.skip("the geometric chain's weights are absent: run `make models`")
    persons, garments, cell_h = ["003491_0", "000010_0"], ["000048_1", "003491_1"], 128
    cell_w = cell_h * 3 // 4
    out = tmp_path / "contact_sheet.png"
    sheet = contact_sheet(tryon_data, out, ChainOptions(mode="geometric"), cell_h=cell_h,
                          persons=persons, garments=garments)
    assert out.is_file() and sheet.shape == (3 * cell_h, 3 * cell_w, 3)
    cell = lambda r, c: sheet[r * cell_h:(r + 1) * cell_h, c * cell_w:(c + 1) * cell_w].astype(np.float32)  # noqa: E731
    # top-left corner is blank, the top row shows the garments themselves
    assert cell(0, 0).min() == 255
    garment = cv2.resize(cv2.imread(str(tryon_data / "garments" / "000048_1.jpg")), (cell_w, cell_h),
                         interpolation=cv2.INTER_AREA)
    assert np.abs(cell(0, 1) - garment).mean() < 2
    for r in (1, 2):
        original = cell(r, 0)
        for c in (1, 2):
            torso = (slice(cell_h // 3, 2 * cell_h // 3), slice(cell_w // 3, 2 * cell_w // 3))
            head = (slice(0, cell_h // 8), slice(cell_w // 3, 2 * cell_w // 3))
            # the yellow blouse changes the (dark-shirted) torso; the top of the head is kept
            if c == 1:
                assert np.abs(cell(r, c)[torso] - original[torso]).mean() > 40
            assert np.abs(cell(r, c)[head] - original[head]).mean() < 12


def test_ssim_is_one_for_identical_images_and_drops_with_change():
    from tools.evaluate import ssim

    rng = np.random.default_rng(0)
    image = rng.random((64, 48, 3))
    assert abs(ssim(image, image) - 1) < 1e-9
    noisy = np.clip(image + rng.normal(0, 0.2, image.shape), 0, 1)
    assert ssim(image, noisy) < 0.9
    assert ssim(image, np.clip(image + 0.05, 0, 1)) > ssim(image, noisy)


# --- person metrics ---------------------------------------------------------------------------
def gt_pose() -> np.ndarray:
    gt = np.zeros((18, 3), np.float32)
    gt[1] = (96, 60, 0.9)                 # neck
    gt[8], gt[11] = (76, 160, 0.5), (116, 160, 0.5)   # hips: mid-hip (96,160), torso = 100
    gt[0] = (96, 30, 0.8)                 # nose
    gt[4] = (50, 150, 0.3)                # r-wrist
    return gt


def test_torso_is_neck_to_mid_hip():
    assert ev.torso_size(gt_pose()) == pytest.approx(100.0)
    no_neck = gt_pose()
    no_neck[1] = 0
    assert ev.torso_size(no_neck) is None
    assert ev.pose_pck(gt_pose(), no_neck) is None


def test_pck_threshold_confidence_and_missing_gt():
    gt = gt_pose()
    pred = gt.copy()
    pred[0, 0] += 19.9                    # within 0.2 · 100
    pred[4, 1] += 20.1                    # just outside
    pred[8, 2] = 0                        # right place, but reported missing
    pred[14] = (10, 10, 1)                # GT has no r-eye: does not count
    hits = ev.pck_hits(pred, gt)
    assert hits[0] == 1 and hits[4] == 0 and hits[8] == 0 and hits[1] == 1
    assert np.isnan(hits[14])
    assert ev.pose_pck(pred, gt) == pytest.approx(3 / 5)   # neck, l-hip, nose of 5 GT points


def test_iou_at_the_ground_truths_resolution():
    gt = np.zeros((8, 6), np.uint8)
    gt[2:6, 2:6] = 5                      # body 16 px
    gt[2:4, 2:4] = 13                     # head 4 px
    pred = np.zeros((4, 3), np.uint8)     # half resolution: nearest-neighbour upsampled
    pred[1:3, 1:3] = 5
    pred[1, 1] = 2                        # hair counts as head
    assert ev.body_iou(pred, gt) == pytest.approx(16 / 16)
    assert ev.head_iou(pred, gt) == pytest.approx(4 / 4)
    assert ev.body_iou(np.zeros_like(gt), gt) == 0.0
    assert ev.head_iou(pred, None) is None


def test_gt_keypoints_body25_and_coco18(tryon_data):
    # VITON-HD: BODY_25 at 768×1024 (the crop is the whole photo) → COCO-18 in 192×256
    kp = ev.load_gt_keypoints(tryon_data, "00891_00", (1024, 768))
    raw = np.asarray(json.loads((tryon_data / "pose_json" / "00891_00_keypoints.json").read_text())
                     ["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    np.testing.assert_allclose(kp[1, :2], raw[1, :2] / 4, rtol=1e-5)     # neck
    np.testing.assert_allclose(kp[8, :2], raw[9, :2] / 4, rtol=1e-5)     # r-hip is BODY_25 #9
    np.testing.assert_allclose(kp[17, :2], raw[18, :2] / 4, rtol=1e-5)   # l-ear is BODY_25 #18
    # VITON: COCO-18 at 192×256, older "pose_keypoints" key, used as is
    kp = ev.load_gt_keypoints(tryon_data, "000010_0", (256, 192))
    np.testing.assert_allclose(kp[0], (113, 41, 0.6832739), rtol=1e-5)
    assert (kp[3] == 0).all()             # missing stays (0, 0, 0)


def test_gt_parse_is_read_as_label_ids(tryon_data):
    labels = ev.load_gt_parse(tryon_data, "00891_00", (1024, 768))
    assert labels.shape == (1024, 768) and labels.dtype == np.uint8
    assert {0, 5, 13}.issubset(set(np.unique(labels)))
    assert labels.max() <= 20


def test_upper_garments_follow_the_manifests_categories(tmp_path):
    """A catalogue folder with a manifest: only its `upper` garments join the cross product;
    without one, every garment does (the tryon layout); cloth masks are paired when present."""
    folder = tmp_path / "wild"
    (folder / "garments").mkdir(parents=True)
    (folder / "cloth_mask").mkdir()
    for name in ("top", "jeans", "dress"):
        cv2.imwrite(str(folder / "garments" / f"{name}.jpg"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(folder / "cloth_mask" / "top.jpg"), np.zeros((8, 8), np.uint8))
    assert [g.name for g in ev.upper_garments(folder, "wild")] == ["dress", "jeans", "top"]
    (folder / "manifest.csv").write_text("file,category\ngarments/top.jpg,upper\ngarments/jeans.jpg,lower\n"
                                         "garments/dress.jpg,dress\n")
    items = ev.upper_garments(folder, "wild")
    assert [g.label for g in items] == ["wild:top"] and items[0].mask == folder / "cloth_mask" / "top.jpg"


def test_cross_product_of_lower_garments_and_dresses(tryon_data, tmp_path):
    """The cross product per category: a half-body dataset photo is refused for a lower
    garment and a dress (with the reason), a full-body customer is rendered, nothing
    crashes; the lower garment's footprint is compared with the person's own trousers; the
    category's contact sheets are written."""
    from models.contract import ChainOptions
    from models.geometric.blazepose import BlazePose

    wild = tryon_data.parent / "catalogue_wild"
    if not (wild / "persons" / "051962_0.jpg").exists():
        pytest.skip(f"{wild}: the shared full-body photos are absent")
    if not BlazePose.available():
        pytest.skip("the geometric chain's weights are absent (run `make models`)")
    persons = [p for p in ev.person_items(tryon_data, "tryon") if p.name == "000001_0"] + \
              [p for p in ev.person_items(wild, "wild") if p.name == "051962_0"]
    options = ChainOptions(mode="geometric")
    prepared: dict = {}
    lower = [g for g in ev.category_garments(wild, "wild", "lower") if g.name == "051946_1"]
    dresses = [g for g in ev.category_garments(wild, "wild", "dress") if g.name == "053319_1"]
    assert lower and dresses and not ev.category_garments(tryon_data, "tryon", "lower")   # the dataset's are tops
    result = ev.cross_product(persons, lower, tmp_path, options, category="lower", prepared=prepared, log=lambda *_: 0)
    assert result["counts"] == {"pairs": 2, "rendered": 1, "flagged": result["counts"]["flagged"], "refused": 1,
                                "crashed": 0}
    assert list(result["refused_by_reason"]) == ["too little of the body for a lower garment: the knees are not "
                                                 "in the photo (it needs the hips and knees)"]
    iou = result["footprint_iou"]
    assert iou["gt"]["pairs"] == 0                     # no ground-truth parse shows a renderable lower body
    assert iou["chain"]["pairs"] == 1 and iou["chain"]["mean"] > 0.5   # the man's own jeans
    result = ev.cross_product(persons, dresses, tmp_path, options, category="dress", prepared=prepared,
                              log=lambda *_: 0)
    assert result["counts"]["rendered"] == 1 and result["counts"]["crashed"] == 0
    for name in ("cross_product_lower.png", "cross_product_lower_wild.png", "cross_product_dress.json"):
        assert (tmp_path / name).is_file(), name
