"""TPS: generic fit/map against an independent solve, and CP-VTON's grid."""
import cv2
import numpy as np
import pytest
from scipy.interpolate import RBFInterpolator

from models.tps import cpvton_control_points, cpvton_grid, fit_tps, tps_dense_grid


def _independent_tps(control, target, points):
    """The textbook system written out plainly: U = r² log r² (0 at r = 0)."""
    def u(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d2 > 0, d2 * np.log(np.where(d2 > 0, d2, 1)), 0.0)
    n = len(control)
    p = np.hstack([np.ones((n, 1)), control])
    L = np.block([[u(control, control), p], [p.T, np.zeros((3, 3))]])
    sol = np.linalg.solve(L, np.vstack([target, np.zeros((3, 2))]))
    return u(points, control) @ sol[:n] + np.hstack([np.ones((len(points), 1)), points]) @ sol[n:]


def test_cpvton_grid_theta_zero_is_identity():
    grid = cpvton_grid(np.zeros((2, 50)))
    assert grid.shape == (2, 256, 192, 2) and grid.dtype == np.float32
    gx, gy = np.meshgrid(np.linspace(-1, 1, 192), np.linspace(-1, 1, 256))
    assert np.abs(grid[..., 0] - gx).max() < 1e-6
    assert np.abs(grid[..., 1] - gy).max() < 1e-6


def test_cpvton_control_points_x_slowest():
    c = cpvton_control_points()
    assert c.shape == (25, 2)
    k = np.arange(25)
    assert np.allclose(c[:, 0], -1 + 0.5 * (k // 5))
    assert np.allclose(c[:, 1], -1 + 0.5 * (k % 5))


def test_cpvton_grid_random_theta_matches_independent_solve():
    rng = np.random.default_rng(1)
    theta = rng.uniform(-0.2, 0.2, (3, 50))
    grid = cpvton_grid(theta)
    control = cpvton_control_points()
    gx, gy = np.meshgrid(np.linspace(-1, 1, 192), np.linspace(-1, 1, 256))
    pts = np.stack([gx.ravel(), gy.ravel()], 1)
    for n in range(3):
        target = control + np.stack([theta[n, :25], theta[n, 25:]], 1)
        ref = _independent_tps(control, target, pts).reshape(256, 192, 2)
        assert np.abs(grid[n] - ref).max() < 1e-5
    # the batch items are independent: a different θ gives a different grid
    assert np.abs(grid[0] - grid[1]).max() > 1e-2


def test_grid_passes_through_displaced_control_points():
    # Output pixel at a control point's position samples exactly its target: the control
    # lattice hits pixel centres only where linspace does, so check via fit_tps.map instead.
    rng = np.random.default_rng(2)
    theta = rng.uniform(-0.1, 0.1, 50)
    control = cpvton_control_points()
    target = control + np.stack([theta[:25], theta[25:]], 1)
    tps = fit_tps(control, target)
    assert np.abs(tps.map(control) - target).max() < 1e-10
    # the corners of the output grid are control points (±1, ±1)
    grid = cpvton_grid(theta[None])[0]
    for (i, j), k in {(0, 0): 0, (255, 0): 4, (0, 191): 20, (255, 191): 24}.items():
        assert np.allclose(grid[i, j], target[k], atol=1e-5)


def test_fit_tps_interpolates_and_matches_scipy_rbf():
    rng = np.random.default_rng(3)
    control = rng.uniform(0, 100, (12, 2))
    target = control + rng.normal(0, 5, (12, 2))
    tps = fit_tps(control, target)
    assert np.abs(tps.map(control) - target).max() < 1e-8
    # scipy's thin_plate_spline kernel is r² log r (half ours): with an exact fit (no
    # smoothing) the interpolant is the same function, so values away from the controls agree.
    rbf = RBFInterpolator(control, target, kernel="thin_plate_spline", degree=1)
    probe = rng.uniform(0, 100, (50, 2))
    assert np.abs(tps.map(probe) - rbf(probe)).max() < 1e-6
    assert np.abs(tps.map(probe) - _independent_tps(control, target, probe)).max() < 1e-8


def test_tps_dense_grid_drives_cv2_remap():
    # A pure translation as a TPS: output pixel (x, y) samples source (x+3, y−2).
    src = (np.arange(40 * 50) % 251).astype(np.uint8).reshape(40, 50)
    dst_pts = np.array([[5, 5], [40, 5], [5, 30], [40, 30], [20, 15]], float)
    tps = fit_tps(dst_pts, dst_pts + [3, -2])
    grid = tps_dense_grid(tps, 40, 50)
    assert grid.shape == (40, 50, 2) and grid.dtype == np.float32
    assert np.allclose(grid[10, 7], [10, 8], atol=1e-4)
    warped = cv2.remap(src, grid[..., 0], grid[..., 1], cv2.INTER_NEAREST)
    assert np.array_equal(warped[5:35, 0:45], src[3:33, 3:48])


def test_fit_tps_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        fit_tps(np.zeros((4, 2)), np.zeros((5, 2)))
