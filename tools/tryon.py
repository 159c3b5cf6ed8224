"""One (person, garment) pair through the chain — OpenCV's virtual_try_on.py as a CLI.

    python -m tools.tryon PERSON CLOTH -o OUT.png [--gmm F --tom F --openpose-proto F
        --openpose-model F --lip F] [--pose-json F] [--parse F] [--out-npy F] [--cpvton-original]
        [--chain auto|seed|geometric]

OUT.png is the customer's photo with the try-on pasted into the sample's 4:3 centre crop;
--out-npy saves the sample's own output, the 256×192×3 float32 RGB composite in [0,1].
Network files default to weights_dir() (`make models`); --pose-json (OpenPose JSON, COCO-18 or
BODY_25, photo coordinates) and --parse (LIP label-id PNG of the photo or of the crop) replace
OpenPose and JPPNet. Any unreadable input or missing weight file: exit code 2 and one line on
stderr naming it. --chain auto (the default, as in the batch system; seed when a network file
is given) runs models.chain's stage selection: per stage the seed network where its weights are
present, else the geometric stage; seed forces the CP-VTON networks, geometric the geometric
stages; --pose-json/--parse still replace pose/parsing. The last line says which implementation
ran each stage. (`registry` is accepted as the geometric chain's old name.)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from models import chain
from models.contract import DEFAULT_CATEGORY, GARMENT_CATEGORIES, SEED_CATEGORIES, BadInputError, ChainOptions
from models.crop import centre_crop_box
from models.seed.gmm import GmmWarp
from models.seed.lip_jppnet import LipJppNet
from models.seed.openpose import OpenPose, photo_keypoints_to_grid, read_openpose_json
from models.seed.tom import TomRenderer
from models.weights import MissingWeightsError

EXIT_BAD_INPUT = 2


class InputFileError(ValueError):
    """An input file the CLI cannot use; the message names it."""


def read_image(path: str) -> np.ndarray:
    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such file")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputFileError(f"{path}: not a readable image")
    return image


def read_keypoints(path: str, crop_box: tuple[int, int, int, int]) -> np.ndarray:
    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        return photo_keypoints_to_grid(read_openpose_json(path), crop_box)
    except ValueError as exc:
        raise InputFileError(f"{path}: {exc}") from None


def read_parse(path: str, photo_hw: tuple[int, int], crop_box: tuple[int, int, int, int]) -> np.ndarray:
    """LIP label ids of the crop. A palette PNG is read as indices (PIL: cv2 would decode the
    palette to colours); a map of the photo's size is cropped, any other size is taken to be
    the crop already."""
    from PIL import Image, UnidentifiedImageError

    if not Path(path).is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "I", "I;16"):
                raise InputFileError(f"{path}: not a label-id PNG (mode {image.mode}; expected palette or greyscale)")
            labels = np.array(image)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputFileError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    if labels.max() > 255:
        raise InputFileError(f"{path}: label ids above 255")
    labels = labels.astype(np.uint8)
    if labels.shape == tuple(photo_hw):
        x0, y0, x1, y1 = crop_box
        labels = labels[y0:y1, x0:x1]
    return labels


# --- stages from the command line: given pose/parse, or seed networks from given files ---------
class GivenKeypoints:
    """Pose 'stage' returning keypoints read from a file (--pose-json)."""

    info = {"impl": "given_keypoints", "weights": {}}

    def __init__(self, keypoints: np.ndarray):
        self._keypoints = np.asarray(keypoints, np.float32)

    def keypoints(self, crop: np.ndarray) -> tuple[np.ndarray, dict]:
        return self._keypoints, {}


class GivenParse:
    """Parsing 'stage' returning a label map read from a file (--parse)."""

    info = {"impl": "given_parse", "weights": {}}

    def __init__(self, labels: np.ndarray):
        self._labels = labels

    def parse(self, crop: np.ndarray, keypoints: np.ndarray, pose_extras: dict) -> tuple[np.ndarray, dict]:
        return self._labels, {}


def seed_person_stages(files: dict, keypoints: np.ndarray | None = None, labels: np.ndarray | None = None) -> dict:
    """Pose and parsing on the seed networks, loaded from `files` (keys openpose_proto,
    openpose_model, lip; None = weights_dir()). Given `keypoints` (18,3 in the 192×256 grid) or
    `labels` (LIP label map of the crop) replace OpenPose / JPPNet, which are then not loaded."""
    return {
        "pose": GivenKeypoints(keypoints) if keypoints is not None
        else OpenPose.load(proto=files.get("openpose_proto"), model=files.get("openpose_model")),
        "parsing": GivenParse(labels) if labels is not None else LipJppNet.load(lip=files.get("lip")),
    }


def seed_garment_stages(files: dict, options: ChainOptions) -> dict:
    """Warp and render on the seed GMM + TOM loaded from `files` (keys gmm, tom; None = weights_dir())."""
    return {
        "warp": GmmWarp.load(gmm=files.get("gmm"), cpvton_original=options.cpvton_original),
        "render": TomRenderer.load(tom=files.get("tom"), cpvton_original=options.cpvton_original),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.tryon", description=__doc__.splitlines()[0])
    parser.add_argument("person", help="photo of the person (any size; the 4:3 centre crop is used)")
    parser.add_argument("cloth", help="in-shop garment photo (squashed to 192×256)")
    parser.add_argument("-o", "--output", required=True, help="output PNG: the photo with the try-on pasted back")
    parser.add_argument("--gmm", help="GMM .onnx (default: weights_dir()/cp_vton_gmm.onnx)")
    parser.add_argument("--tom", help="TOM .onnx (default: weights_dir()/cp_vton_tom.onnx)")
    parser.add_argument("--openpose-proto", help="OpenPose COCO .prototxt (19 outputs)")
    parser.add_argument("--openpose-model", help="OpenPose COCO .caffemodel")
    parser.add_argument("--lip", help="LIP JPPNet .pb")
    parser.add_argument("--pose-json", help="OpenPose JSON of the photo (COCO-18 or BODY_25): replaces OpenPose")
    parser.add_argument("--parse", help="LIP label-id PNG of the photo or of its crop: replaces JPPNet")
    parser.add_argument("--out-npy", help="also save the 256×192×3 float32 RGB try-on in [0,1]")
    parser.add_argument("--chain", choices=("seed", "auto", "geometric", "registry"), default=None,
                        help="auto (default, like the batch system; seed when --gmm/--tom/--openpose-*/--lip "
                             "are given): per stage, the seed network where its weights are present, else the "
                             "geometric stage; seed: the CP-VTON networks only (a missing file is an error); "
                             "geometric (old name: registry): BlazePose + geometry only")
    parser.add_argument("--category", choices=GARMENT_CATEGORIES, default=DEFAULT_CATEGORY,
                        help="the garment's category (default upper): lower garments and dresses are rendered by "
                             "the geometric chain (CP-VTON renders tops only: with --chain seed they are refused)")
    parser.add_argument("--cpvton-original", action="store_true",
                        help="original CP-VTON conventions: 11×11 pose squares, head {1,2,4,13}, sampler W−1")
    args = parser.parse_args(argv)

    files = {"gmm": args.gmm, "tom": args.tom, "openpose_proto": args.openpose_proto,
             "openpose_model": args.openpose_model, "lip": args.lip}
    if args.chain is None:  # network files name the seed's networks; otherwise as the workers pick
        args.chain = "seed" if any(files.values()) else "auto"
    # Given keypoints or parse describe the sample's centre crop: keep it (the seed chain keeps it anyway).
    framing = "centre" if (args.pose_json or args.parse) else "auto"
    options = ChainOptions(mode=args.chain, cpvton_original=args.cpvton_original, framing=framing)
    if args.chain == "seed" and args.category not in SEED_CATEGORIES:
        print(f"error: --category {args.category}: the seed chain (CP-VTON) renders {', '.join(SEED_CATEGORIES)} "
              "garments only; use --chain auto or geometric", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.chain != "seed" and any(files.values()):
        print("error: --gmm/--tom/--openpose-proto/--openpose-model/--lip apply to --chain seed only", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        photo = read_image(args.person)
        cloth = read_image(args.cloth)
        box = centre_crop_box(*photo.shape[:2])
        keypoints = read_keypoints(args.pose_json, box) if args.pose_json else None
        labels = read_parse(args.parse, photo.shape[:2], box) if args.parse else None
        if args.chain == "seed":
            # the person's networks first, the garment's once the person is known to be usable
            person = chain.prepare_person(photo, options, name=args.person,
                                          stage_objects=seed_person_stages(files, keypoints, labels))
            [composite] = chain.render(person, [cloth], options, names=[args.cloth],
                                       stage_objects=seed_garment_stages(files, options), category=args.category)
        else:
            stage_objects = dict(chain.stages((options.mode, options.cpvton_original, options.framing)))
            if keypoints is not None:
                stage_objects["pose"] = GivenKeypoints(keypoints)
            if labels is not None:
                stage_objects["parsing"] = GivenParse(labels)
            person = chain.prepare_person(photo, options, name=args.person, stage_objects=stage_objects)
            [composite] = chain.render(person, [cloth], options, names=[args.cloth], stage_objects=stage_objects,
                                       category=args.category)
    except (InputFileError, MissingWeightsError, BadInputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except cv2.error as exc:  # a weight file that exists but is not a network cv2 can read
        given = [f for f in files.values() if f]
        reason = str(exc).strip().splitlines()[-1][:200]
        print(f"error: cannot run the networks ({', '.join(given) or 'weights_dir()'}): {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if not cv2.imwrite(args.output, composite.image):
        print(f"error: {args.output}: cannot write the output image", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.out_npy:
        np.save(args.out_npy, composite.tryon.astype(np.float32))
    used = ", ".join(f"{stage}={info['impl']}" for stage, info in composite.stages.items())
    print(f"{args.output}: {composite.image.shape[1]}×{composite.image.shape[0]} (chain {args.chain}: {used})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
