"""Thin-plate splines: a generic fit/map, a dense-grid helper for cv2.remap, and CP-VTON's grid.

One kernel, U(r) = r² log r² (CP-VTON's `TpsGridGen` and OpenCV's virtual_try_on.py use this
form, which is twice the textbook r² log r; the factor is absorbed by the weights, so both
interpolate the same control points but the weights differ by 2).

A TPS maps 2-D points p to
    f(p) = A0 + A1·x + A2·y + Σ_k W_k · U(|p − c_k|²)
with control points c_k. Fitting solves L·[W; A] = [Q; 0] where
    L = [[K, P], [Pᵀ, 0]],  K_kl = U(|c_k − c_l|²),  P = [1, cx, cy].

    tps = fit_tps(control_xy, target_xy)      # f(control) == target
    tps.map(points)                           # (N,2) → (N,2)
    grid = tps_dense_grid(tps, h, w)          # (h,w,2) float32 for cv2.remap (backward map)
    grid = cpvton_grid(theta)                 # (N,256,192,2) in [-1,1], as the OpenCV sample
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


def tps_kernel(d2: np.ndarray) -> np.ndarray:
    """U as a function of the SQUARED distance: d²·ln d², with d² = 0 replaced by 1 so U(0) = 0
    (CP-VTON's trick to avoid log 0; replacing only exact zeros, as it does)."""
    d2 = np.array(d2, dtype=np.float64, copy=True)
    d2[d2 == 0] = 1.0
    return d2 * np.log(d2)


def tps_basis(points_xy: np.ndarray, control_xy: np.ndarray) -> np.ndarray:
    """(N, K+3) design matrix [U(|p−c_k|²) for k…, 1, x, y] so that f(points) = basis @ coeffs."""
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    control = np.asarray(control_xy, dtype=np.float64).reshape(-1, 2)
    d2 = ((points[:, None, :] - control[None, :, :]) ** 2).sum(axis=2)
    return np.concatenate([tps_kernel(d2), np.ones((len(points), 1)), points], axis=1)


def tps_system(control_xy: np.ndarray) -> np.ndarray:
    """The (K+3)×(K+3) matrix L = [[K, P], [Pᵀ, 0]] of the control points."""
    control = np.asarray(control_xy, dtype=np.float64).reshape(-1, 2)
    n = len(control)
    L = np.zeros((n + 3, n + 3))
    basis = tps_basis(control, control)  # [K | P]
    L[:n, :] = basis
    L[n:, :n] = basis[:, n:].T
    return L


@dataclass(frozen=True)
class TPS:
    """A fitted spline. coeffs rows: W_0..W_{K-1}, A0, A1, A2; columns: x, y."""

    control_xy: np.ndarray  # (K, 2)
    coeffs: np.ndarray      # (K+3, 2)

    def map(self, points_xy: np.ndarray) -> np.ndarray:
        """(N,2) points → (N,2) mapped points (float64)."""
        return tps_basis(points_xy, self.control_xy) @ self.coeffs


def fit_tps(control_xy: np.ndarray, target_xy: np.ndarray) -> TPS:
    """The TPS with f(control_k) = target_k exactly (no regularisation).

    Needs ≥3 control points not all on one line (else L is singular: numpy raises LinAlgError).
    """
    control = np.asarray(control_xy, dtype=np.float64).reshape(-1, 2)
    target = np.asarray(target_xy, dtype=np.float64).reshape(-1, 2)
    if control.shape != target.shape:
        raise ValueError(f"control {control.shape} and target {target.shape} differ")
    rhs = np.zeros((len(control) + 3, 2))
    rhs[: len(control)] = target
    return TPS(control, np.linalg.solve(tps_system(control), rhs))


def tps_dense_grid(tps: TPS, out_h: int, out_w: int,
                   xs: np.ndarray | None = None, ys: np.ndarray | None = None) -> np.ndarray:
    """Evaluate `tps` at every output pixel: (out_h, out_w, 2) float32 of mapped (x, y).

    The sampling position of output pixel (i, j) is (xs[j], ys[i]); by default the pixel
    coordinates themselves (xs = 0..out_w−1, ys = 0..out_h−1). For cv2.remap the spline must
    be a BACKWARD map (output pixel → source pixel), i.e. fit with control = points in the
    output image and target = where they come from in the source image:

        tps = fit_tps(dst_points, src_points)
        grid = tps_dense_grid(tps, h, w)
        warped = cv2.remap(src, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR)
    """
    xs = np.arange(out_w, dtype=np.float64) if xs is None else np.asarray(xs, np.float64)
    ys = np.arange(out_h, dtype=np.float64) if ys is None else np.asarray(ys, np.float64)
    gx, gy = np.meshgrid(xs, ys)
    mapped = tps.map(np.stack([gx.ravel(), gy.ravel()], axis=1))
    return mapped.reshape(out_h, out_w, 2).astype(np.float32)


# --- CP-VTON (TpsGridGen, grid_size 5) --------------------------------------------------
CPVTON_GRID_SIZE = 5


@functools.lru_cache(maxsize=None)
def cpvton_control_points(grid_size: int = CPVTON_GRID_SIZE) -> np.ndarray:
    """(25,2) control points: P_Y, P_X = meshgrid(a, a) flattened row-major, so x varies
    slowest: P_k = (−1 + 0.5·⌊k/5⌋, −1 + 0.5·(k mod 5))."""
    axis = np.linspace(-1, 1, grid_size)
    p_y, p_x = np.meshgrid(axis, axis)
    return np.stack([p_x.ravel(), p_y.ravel()], axis=1)


@functools.lru_cache(maxsize=None)
def _cpvton_tables(out_h: int, out_w: int, grid_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(basis of every output pixel (H·W, K+3), Li[:, :K]) — constant for all θ, built once."""
    control = cpvton_control_points(grid_size)
    gx, gy = np.meshgrid(np.linspace(-1, 1, out_w), np.linspace(-1, 1, out_h))
    basis = tps_basis(np.stack([gx.ravel(), gy.ravel()], axis=1), control)
    # The sample inverts L once (W = Li[:K,:K]·Q, A = Li[K:,:K]·Q); same as solving L·[W;A]=[Q;0].
    li = np.linalg.inv(tps_system(control))[:, : len(control)]
    return basis, li


def cpvton_grid(theta: np.ndarray, out_h: int = 256, out_w: int = 192,
                grid_size: int = CPVTON_GRID_SIZE) -> np.ndarray:
    """CP-VTON's sampling grid from the GMM output θ (N, 50): (N, out_h, out_w, 2) float32 of
    (x', y') in normalised [−1,1] cloth coordinates. θ[:, :25] displaces the control points'
    x, θ[:, 25:] their y; θ = 0 gives the identity grid."""
    theta = np.asarray(theta, dtype=np.float64)
    k = grid_size * grid_size
    theta = theta.reshape(len(theta), 2 * k)
    control = cpvton_control_points(grid_size)
    basis, li = _cpvton_tables(out_h, out_w, grid_size)
    targets = control[None] + np.stack([theta[:, :k], theta[:, k:]], axis=2)  # (N, K, 2)
    coeffs = np.matmul(li, targets)                                           # (N, K+3, 2)
    # One GEMM for the whole batch: (H·W, K+3) @ (K+3, N·2).
    n = len(theta)
    grid = basis @ coeffs.transpose(1, 0, 2).reshape(k + 3, n * 2)            # (H·W, N·2)
    return grid.reshape(out_h, out_w, n, 2).transpose(2, 0, 1, 3).astype(np.float32)
