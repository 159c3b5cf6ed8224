"""`make eval` in small: the evaluation CLI on a two-photo, two-garment slice of the dataset
(symlinks in a temporary folder; nothing is copied into the repository)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
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
    run = subprocess.run([sys.executable, "-m", "models.evaluate", str(data), str(out)], cwd=REPO,
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
