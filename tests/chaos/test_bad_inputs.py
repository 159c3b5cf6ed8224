"""chaos/bad_inputs.py: the bad-input corpus itself, and the worker's decoder against every
format-level kind (no server). The corpus through a real run is in test_scenarios.py."""
from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from chaos.bad_inputs import BadInput, corpus


def _person() -> np.ndarray:
    # Any photo-like array works for the decode-level checks; the e2e tests use chaos.inputs.
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (256, 192, 3), dtype=np.uint8), (9, 9), 0)
    cv2.ellipse(img, (96, 120), (40, 90), 0, 0, 360, (60, 90, 200), -1)
    return img


def _garment() -> np.ndarray:
    g = np.full((256, 192, 3), 255, np.uint8)
    cv2.rectangle(g, (40, 50), (150, 230), (30, 30, 200), -1)
    return g


MAX_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def items() -> list[BadInput]:
    return corpus(_person(), _garment(), MAX_BYTES)


def test_corpus_has_at_least_30_distinct_kinds_for_both_roles(items):
    kinds = {i.kind for i in items}
    assert len(kinds) == len(items) >= 30
    assert {i.role for i in items} == {"customer", "garment"}
    assert {i.expect for i in items} == {"fail", "render", "refused", "either"}
    for i in items:
        re.compile(i.reason)


def test_bombs_are_small_files_whose_headers_claim_too_many_pixels(items):
    from worker.images import image_size

    by_kind = {i.kind: i for i in items}
    for kind in ("png_pixel_bomb", "jpeg_header_bomb", "garment_pixel_bomb"):
        data = by_kind[kind].data
        w, h = image_size(data)
        assert w * h > 40_000_000 and len(data) < 1_000_000, (kind, w, h, len(data))
    assert len(by_kind["huge_file"].data) > MAX_BYTES


def test_exif_rotated_is_stored_sideways_and_decodes_upright(items):
    item = next(i for i in items if i.kind == "exif_rotated")
    raw = cv2.imdecode(np.frombuffer(item.data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    shown = cv2.imdecode(np.frombuffer(item.data, np.uint8), cv2.IMREAD_COLOR)
    assert raw.shape[:2] == (192, 256) and shown.shape[:2] == (256, 192)


def test_worker_decoder_refuses_every_undecodable_and_oversized_input_with_its_reason(items):
    """The worker's own decode step (before any model) against every format-level kind."""
    from models.contract import BadInputError
    from worker.images import decode_image

    checked = 0
    for item in items:
        if item.expect == "fail":
            with pytest.raises(BadInputError) as err:
                decode_image(item.data, item.filename, MAX_BYTES)
            assert item.matches(str(err.value)), (item.kind, str(err.value))
            assert item.filename in str(err.value)  # the reason names the input
            checked += 1
        elif item.kind in ("huge_file", "zero_bytes", "garment_zero_bytes"):
            # refused by the planner from the listing; the worker refuses them too if asked
            with pytest.raises(BadInputError) as err:
                decode_image(item.data, item.filename, MAX_BYTES)
            assert item.matches(str(err.value)), (item.kind, str(err.value))
        elif item.expect == "render":
            image = decode_image(item.data, item.filename, MAX_BYTES)
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, item.kind
            assert image.shape[:2] == (256, 192), (item.kind, image.shape)
            checked += 1
    assert checked >= 20
