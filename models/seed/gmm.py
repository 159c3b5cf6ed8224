"""CP-VTON's Geometric Matching Module (cp_vton_gmm.onnx) + the TPS warp of the garment, as
OpenCV's virtual_try_on.py runs them (`get_warped_cloth`).

    GMM inputs   "input.1"  (N,22,256,192) agnostic person representation (models.seed.representation)
                 "input.18" (N,3,256,192)  cloth: blobFromImage(cloth, 1/127.5, (192,256),
                                           mean=127.5, swapRB=True) → RGB in [−1,1], squashed
                                           to 192×256 (not cropped)
    GMM output   θ (N,50), already tanh-bounded: displacements of the 5×5 TPS control points
    then         grid = cpvton_grid(θ) (models.tps), warped = bilinear_sample(cloth, grid)
                 (models.seed.sampler; scale W−2 like the sample, W−1 with cpvton_original)

The graph has one non-standard `Correlation` node: models.onnx.correlation's Python layer is
registered before readNet. A rewritten GMM (Correlation replaced by standard ops,
models/onnx/correlation_rewrite.py) loads the same way and needs no Python layer.

TRYON_ONNX_PRECISION=int8 runs the int8 file derived from this one (models/onnx/precision.py,
calibrated by models/seed/calibration.py), cut at the same two tensors.
"""
from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np
import onnx

from models import settings
from models.cache import ContentCache, content_key
from models.contract import REPR_H, REPR_W, Person, WarpedGarments
from models.garment_photo import garment_mask
from models.onnx.batch import BatchRunner, read_onnx
from models.onnx.precision import check_precision, configured_precision
from models.onnx.runner import configured_engine
from models.seed.representation import person_representation
from models.seed.sampler import bilinear_sample
from models.tps import cpvton_grid
from models.weights import DeclaresWeights, WeightFile, resolve, weights_record

GMM_ONNX = WeightFile(
    name="cp_vton_gmm.onnx",
    # No official checksum. This is the sha256 of a third-party Git-LFS copy
    # (Shankar-hacker/virtualTRYon), NOT confirmed byte-identical to the Dropbox file.
    known_hash="sha256:d05e68b1d2c520bf5727ee232b525f0f2bb3a0cfe7ef22894e9e4e0119d0d562",
    size=76_272_703,
    url="https://www.dropbox.com/s/tyhc73xa051grjp/cp_vton_gmm.onnx?dl=1",
    note="CP-VTON GMM exported by the OpenCV sample author (l-bat/cp-vton); checksum unconfirmed",
)

GMM_INPUTS = ("input.1", "input.18")  # names the PyTorch exporter generated; the sample uses them
THETA_SIZE = 50


def cloth_blob(garments_bgr: list[np.ndarray]) -> np.ndarray:
    """(N,3,256,192) float32 RGB in [−1,1]: each garment squashed to 192×256 (bilinear)."""
    return cv2.dnn.blobFromImages(garments_bgr, 1.0 / 127.5, (REPR_W, REPR_H),
                                  mean=(127.5, 127.5, 127.5), swapRB=True)


def correlation_cut(model: onnx.ModelProto) -> tuple[str, str] | None:
    """The (person features, cloth features) tensors a GMM's Correlation node reads, or None for
    a graph without exactly one (e.g. an already rewritten GMM)."""
    corr = [n for n in model.graph.node if n.op_type == "Correlation"]
    return (corr[0].input[0], corr[0].input[1]) if len(corr) == 1 else None


def split_at_correlation(model: onnx.ModelProto, cut: tuple[str, str] | None = None):
    """(person branch, cloth branch, head) sub-graphs of a GMM cut at its Correlation node's two
    inputs (or at `cut`, the same tensors in a derived graph, e.g. the int8 one), or None for a
    graph without one (e.g. an already rewritten GMM: run whole).
    The two FeatureExtraction branches are ~95% of the GMM's arithmetic; the person's depends
    only on the customer, the cloth's only on the garment."""
    from onnx.utils import Extractor

    cut = cut or correlation_cut(model)
    if cut is None:
        return None
    person_features, cloth_features = cut
    extractor = Extractor(model)
    return (extractor.extract_model([GMM_INPUTS[0]], [person_features]),
            extractor.extract_model([GMM_INPUTS[1]], [cloth_features]),
            extractor.extract_model([person_features, cloth_features], [o.name for o in model.graph.output]))


class GMM:
    """The GMM network alone: θ from (agnostic, cloth).

    Run in three parts where the graph allows (see `split_at_correlation`): the person branch
    once per distinct agnostic tensor, the cloth branch once per distinct garment (both
    content-keyed caches: a worker renders the same garments for customer after customer),
    and only the small head (correlation + regression) per pair. Same θ as the whole graph.
    A branch's features are 512×16×12 floats (393 KB at real size).

    `precision` (default TRYON_ONNX_PRECISION): "int8" runs the int8 file derived from `path`
    (made on first use from TRYON_CALIBRATION_DIR's photos, then kept beside it: see
    models/seed/calibration.py), split at the same tensors; `run_path` is the file that runs."""

    PERSON_CACHE, CLOTH_CACHE = 4, 64

    def __init__(self, path, precision: str | None = None):
        self.path = self.run_path = str(path)
        self.precision = configured_precision() if precision is None else check_precision(precision, configured_engine())
        try:
            model = onnx.load(self.path)
            parts = split_at_correlation(model)
        except Exception:  # noqa: BLE001 — not a readable ONNX file: read_onnx below names it
            model, parts = None, None
        if model is not None and self.precision == "int8":
            from models.seed.calibration import gmm_int8  # calibration runs this module's stage

            cut = correlation_cut(model)
            self.run_path = str(gmm_int8(self.path))
            model = onnx.load(self.run_path)  # Correlation rewritten into standard ops, the cut tensors kept
            try:
                parts = split_at_correlation(model, cut) if cut else None
            except Exception:  # noqa: BLE001 — a cut tensor the quantizer renamed: run the graph whole
                parts = None
        del model
        path = self.run_path
        if parts is None:
            self.net = read_onnx(path)  # cv2.dnn (Correlation as a Python layer) or onnxruntime (rewritten)
            # The batch dimension is tried once; an export with batch 1 baked into a Reshape is
            # then run item by item (see models/onnx/batch.py).
            self._run = BatchRunner(self.net, GMM_INPUTS, (THETA_SIZE,))
            return
        with tempfile.TemporaryDirectory(prefix="gmm-parts-") as tmp:  # engines read files; they keep no handle
            nets = []
            for name, part in zip(("person", "cloth", "head"), parts):
                onnx.save(part, os.path.join(tmp, f"{name}.onnx"))
                nets.append(read_onnx(os.path.join(tmp, f"{name}.onnx")))
        person_net, cloth_net, self.net = nets
        feature_shape = tuple(d.dim_value for d in parts[2].graph.input[0].type.tensor_type.shape.dim[1:])
        self._person = BatchRunner(person_net, (GMM_INPUTS[0],), feature_shape)
        self._cloth = BatchRunner(cloth_net, (GMM_INPUTS[1],), feature_shape)
        weights = {t.name for t in parts[2].graph.initializer}
        head_inputs = tuple(i.name for i in parts[2].graph.input if i.name not in weights)
        self._head = BatchRunner(self.net, head_inputs, (THETA_SIZE,))
        self._person_cache, self._cloth_cache = ContentCache(self.PERSON_CACHE), ContentCache(self.CLOTH_CACHE)
        self._run = self._split_run

    @staticmethod
    def _features(runner: BatchRunner, cache: ContentCache, x: np.ndarray) -> np.ndarray:
        """Features of each item of x: from the cache, else computed once per distinct item."""
        keys = [content_key((item,)) for item in x]
        found, missing = {}, {}
        for i, k in enumerate(keys):
            if k not in found and k not in missing:
                hit = cache.get(k)
                if hit is not None:
                    found[k] = hit
                else:
                    missing[k] = i
        if missing:
            for k, feat in zip(missing, runner(x[list(missing.values())])):
                found[k] = feat
                cache.put(k, feat)
        return np.stack([found[k] for k in keys])

    def _split_run(self, agnostic: np.ndarray, cloth: np.ndarray) -> np.ndarray:
        n = len(cloth)
        person = self._features(self._person, self._person_cache, agnostic[:1] if _same_rows(agnostic) else agnostic)
        person = np.broadcast_to(person, (n, *person.shape[1:])) if len(person) == 1 else person
        garment = self._features(self._cloth, self._cloth_cache, cloth)
        return self._head(np.ascontiguousarray(person), garment)

    def theta(self, agnostic: np.ndarray, cloth: np.ndarray) -> np.ndarray:
        """agnostic (1 or N,22,256,192), cloth (N,3,256,192) → θ (N,50) float32."""
        n = len(cloth)
        agnostic = np.broadcast_to(agnostic, (n, *agnostic.shape[1:])) if len(agnostic) == 1 else agnostic
        return self._run(agnostic, cloth).reshape(n, THETA_SIZE).astype(np.float32)


def _same_rows(x: np.ndarray) -> bool:
    """A broadcast (stride-0) batch: one person for all garments, the usual render call."""
    return len(x) == 1 or x.strides[0] == 0


class GmmWarp(DeclaresWeights):
    """Warp stage of the seed chain: GMM θ → TPS grid → warped garment (and its mask)."""

    chain = "seed"
    weights = (GMM_ONNX,)
    options = ("cpvton_original",)

    def __init__(self, gmm: GMM, cpvton_original: bool = False):
        self.gmm = gmm
        self.cpvton_original = cpvton_original
        self._masks = ContentCache(GMM.CLOTH_CACHE)  # per garment, like the cloth features

    def _garment_mask(self, garment_bgr: np.ndarray, given: np.ndarray | None) -> np.ndarray:
        """The garment's mask at 192×256, computed once per garment (content-keyed): ~45 ms for
        a 768×1024 photo, which would otherwise be paid again for every customer."""
        return self._masks.get_or_compute((garment_bgr, given), lambda: cv2.resize(
            garment_mask(garment_bgr, given), (REPR_W, REPR_H), interpolation=cv2.INTER_LINEAR))

    @classmethod
    def available(cls) -> bool:
        return super().available() or bool(settings.current().gmm_onnx)

    @classmethod
    def load(cls, gmm: str | None = None, cpvton_original: bool = False) -> "GmmWarp":
        """`gmm` (or TRYON_GMM_ONNX): a GMM file used instead of the published one (e.g. `make
        bench`'s real-size random-weight build), as is, unverified, and recorded as such."""
        return cls(GMM(resolve(GMM_ONNX, gmm or settings.current().gmm_onnx)), cpvton_original)

    @property
    def info(self) -> dict:
        info = {"impl": "cpvton_gmm", "weights": {GMM_ONNX.name: weights_record(GMM_ONNX, self.gmm.path)},
                "engine": configured_engine(), "precision": self.gmm.precision}
        if self.gmm.run_path != self.gmm.path:
            info["derived"] = os.path.basename(self.gmm.run_path)  # named by the source's checksum
        return info

    def inputs(self, person: Person, garments_bgr: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The GMM's inputs as the stage makes them: agnostic (1,22,256,192), cloth (N,3,256,192)."""
        return person_representation(person, cpvton_original=self.cpvton_original), cloth_blob(garments_bgr)

    def warp(self, person: Person, garments_bgr: list[np.ndarray],
             garment_masks: list[np.ndarray | None] | None = None, category: str = "upper") -> WarpedGarments:
        # CP-VTON renders tops only: models.chain routes other categories to the geometric chain
        agnostic, cloth = self.inputs(person, garments_bgr)
        grid = cpvton_grid(self.gmm.theta(agnostic, cloth))
        scale_offset = 1 if self.cpvton_original else 2
        warped = bilinear_sample(cloth, grid, scale_offset)
        # The sample warps no mask; the chain's contract wants one. Warp the garment's own mask
        # (given, or from the light in-shop background) with the same grid.
        masks = garment_masks or [None] * len(garments_bgr)
        mask_blob = np.stack([self._garment_mask(g, m) for g, m in zip(garments_bgr, masks)]
                             ).astype(np.float32)[:, None] / 255.0
        warped_masks = bilinear_sample(mask_blob, grid, scale_offset)[:, 0]
        return WarpedGarments(images=(warped.transpose(0, 2, 3, 1) + 1.0) / 2.0,
                              masks=np.clip(warped_masks, 0.0, 1.0))
