"""CP-VTON's Try-On Module (cp_vton_tom.onnx), as OpenCV's virtual_try_on.py runs it (`get_tryon`).

    input    concat([agnostic (N,22,256,192), warped cloth (N,3,256,192) RGB in [−1,1]], axis=1)
             = (N,25,256,192), the graph's only input
    output   (N,4,256,192) raw: rendered person (3) + composition mask (1); tanh / sigmoid and
             the composition are applied outside the graph (models.seed.composition.compose_tom)

TRYON_ONNX_PRECISION=int8 runs the int8 file derived from this one (models/onnx/precision.py,
calibrated by models/seed/calibration.py).
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from models import settings
from models.contract import REPR_H, REPR_W, Person, WarpedGarments
from models.onnx.batch import BatchRunner, read_onnx
from models.onnx.precision import check_precision, configured_precision
from models.onnx.runner import configured_engine
from models.seed.composition import compose_tom
from models.seed.representation import person_representation
from models.weights import DeclaresWeights, WeightFile, resolve, weights_record

TOM_ONNX = WeightFile(
    name="cp_vton_tom.onnx",
    # No official checksum: sha256 of a third-party Git-LFS copy (Shankar-hacker/virtualTRYon),
    # NOT confirmed byte-identical to the Dropbox file.
    known_hash="sha256:04fb505e1cf978ce210d6643e467fff525cad88ab291b0f13b28ae868b821b6c",
    size=85_426_314,
    url="https://www.dropbox.com/s/q2x97ve2h53j66k/cp_vton_tom.onnx?dl=1",
    note="CP-VTON TOM exported by the OpenCV sample author (l-bat/cp-vton); checksum unconfirmed",
)


class TOM:
    """The TOM network alone. `precision` (default TRYON_ONNX_PRECISION): "int8" runs the int8
    file derived from `path` (made on first use from TRYON_CALIBRATION_DIR's photos, then kept
    beside it: models/seed/calibration.py); `run_path` is the file that runs."""

    def __init__(self, path, precision: str | None = None):
        self.path = self.run_path = str(path)
        self.precision = configured_precision() if precision is None else check_precision(precision, configured_engine())
        if self.precision == "int8" and os.path.isfile(self.path):
            from models.seed.calibration import tom_int8  # calibration runs this module's stage

            self.run_path = str(tom_int8(self.path))
        self.net = read_onnx(self.run_path)
        # "" = the default (only) input, as the sample sets it.
        self._run = BatchRunner(self.net, ("",), (4, REPR_H, REPR_W))

    @staticmethod
    def input_blob(agnostic: np.ndarray, warped_cloth: np.ndarray) -> np.ndarray:
        """The graph's one input: agnostic (1 or N,22,…) and warped cloth (N,3,…) → (N,25,256,192)."""
        n = len(warped_cloth)
        return np.concatenate([np.broadcast_to(agnostic, (n, *agnostic.shape[1:])), warped_cloth], axis=1)

    def forward(self, agnostic: np.ndarray, warped_cloth: np.ndarray) -> np.ndarray:
        """agnostic (1 or N,22,256,192), warped_cloth (N,3,256,192) in [−1,1] → (N,4,256,192)."""
        return self._run(self.input_blob(agnostic, warped_cloth))


class TomRenderer(DeclaresWeights):
    """Render stage of the seed chain: TOM + composition → 256×192 RGB try-ons."""

    chain = "seed"
    weights = (TOM_ONNX,)
    options = ("cpvton_original",)

    def __init__(self, tom: TOM, cpvton_original: bool = False):
        self.tom = tom
        self.cpvton_original = cpvton_original

    @classmethod
    def available(cls) -> bool:
        return super().available() or bool(settings.current().tom_onnx)

    @classmethod
    def load(cls, tom: str | None = None, cpvton_original: bool = False) -> "TomRenderer":
        """`tom` (or TRYON_TOM_ONNX): a TOM file used instead of the published one (as is,
        unverified; recorded as such)."""
        return cls(TOM(resolve(TOM_ONNX, tom or settings.current().tom_onnx)), cpvton_original)

    @property
    def info(self) -> dict:
        info = {"impl": "cpvton_tom", "weights": {TOM_ONNX.name: weights_record(TOM_ONNX, self.tom.path)},
                "engine": configured_engine(), "precision": self.tom.precision}
        if self.tom.run_path != self.tom.path:
            info["derived"] = os.path.basename(self.tom.run_path)  # named by the source's checksum
        return info

    def inputs(self, person: Person, warped: WarpedGarments) -> tuple[np.ndarray, np.ndarray]:
        """TOM's inputs as the stage makes them: agnostic (1,22,256,192), warped cloth (N,3,256,192) in [−1,1]."""
        images = np.asarray(warped.images, np.float32)
        if images.shape[1:3] != (REPR_H, REPR_W):
            # A warp stage other than the GMM (stage mix in auto mode) may work at a higher
            # resolution; TOM only takes 256×192.
            images = np.stack([cv2.resize(im, (REPR_W, REPR_H), interpolation=cv2.INTER_AREA) for im in images])
        cloth = images.transpose(0, 3, 1, 2) * 2.0 - 1.0  # back to the sampler's [−1,1]
        return person_representation(person, cpvton_original=self.cpvton_original), cloth

    def render(self, person: Person, warped: WarpedGarments, category: str = "upper") -> list[np.ndarray]:
        agnostic, cloth = self.inputs(person, warped)
        return list(compose_tom(self.tom.forward(agnostic, cloth), cloth))
