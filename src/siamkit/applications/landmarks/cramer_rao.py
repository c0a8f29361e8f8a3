"""The Cramér-Rao lower bound for locating a point from noisy ranges to known landmarks.

With ranges `r_i = |x - l_i| + e_i` and independent `e_i ~ N(0, sigma^2)`, the Fisher information about `x`
is `J(x) = sum_i u_i u_i^T / sigma^2`, where `u_i = (x - l_i) / |x - l_i|` is the unit vector from landmark
`i` to the point. No unbiased estimator can have a mean squared position error below `trace(J^-1)`, so
`sqrt(trace(J^-1))` bounds the root mean squared error. It grows linearly with `sigma` and shrinks as
landmarks are added or spread around the point (better geometry).
"""

from __future__ import annotations

import numpy as np

from siamkit.errors import ConfigError

# A point this close to a landmark has no defined direction to it; that landmark is left out of the sum.
_MIN_RANGE = 1e-12


def range_fisher_information(landmarks: np.ndarray, points: np.ndarray, sigma: float) -> np.ndarray:
    """Fisher information matrices `(n, d, d)` of each point's position from its ranges to `landmarks`."""
    if sigma <= 0:
        raise ConfigError(f"the Fisher information needs a positive noise sigma, got {sigma}")
    if landmarks.ndim != 2 or points.ndim != 2 or landmarks.shape[1] != points.shape[1]:
        raise ConfigError(f"landmarks (m, d) and points (n, d) must share d, got {landmarks.shape} and {points.shape}")
    offsets = points[:, None, :] - landmarks[None, :, :]
    ranges = np.linalg.norm(offsets, axis=2)
    directions = np.divide(
        offsets, ranges[:, :, None], out=np.zeros_like(offsets), where=ranges[:, :, None] > _MIN_RANGE
    )
    return np.asarray(np.einsum("nmi,nmj->nij", directions, directions) / sigma**2)


def position_error_bounds(landmarks: np.ndarray, points: np.ndarray, sigma: float) -> np.ndarray:
    """Per point, the smallest root mean squared position error an unbiased estimator can reach, `(n,)`.

    Zero when `sigma` is zero; infinite where the ranges do not determine the position (too few landmarks,
    or all of them on one line through the point).
    """
    if sigma == 0:
        return np.zeros(points.shape[0])
    information = range_fisher_information(landmarks, points, sigma)
    bounds = np.full(points.shape[0], np.inf)
    for index, matrix in enumerate(information):
        if np.linalg.matrix_rank(matrix) == matrix.shape[0]:
            bounds[index] = float(np.sqrt(np.trace(np.linalg.inv(matrix))))
    return bounds


def rmse_bound(landmarks: np.ndarray, points: np.ndarray, sigma: float) -> float:
    """The bound on the root mean squared error over a set of points: `sqrt(mean_n trace(J_n^-1))`.

    Directly comparable with `geometry.coordinate_rmse` of an estimator on the same points.
    """
    bounds = position_error_bounds(landmarks, points, sigma)
    return float(np.sqrt(np.mean(bounds**2)))
