"""Least-squares trilateration: where is a point, given its distances to landmarks at known positions?

Two stages, the textbook way:

1. Closed-form linearisation. Squaring a range gives `r_i^2 = |x|^2 - 2 l_i·x + |l_i|^2`; subtracting the mean
   over landmarks removes the unknown `|x|^2` and leaves the linear system `-2 (l_i - l̄)·x = (r_i^2 - mean r^2)
   - (|l_i|^2 - mean |l|^2)`, solved by least squares. It needs `m >= d + 1` landmarks that are not all in one
   hyperplane, and it is exact for exact ranges, but squaring weights the noise unevenly, so it is not optimal.
2. Nonlinear refinement: minimise `sum_i (|x - l_i| - r_i)^2` from the linear solution. For Gaussian range noise
   this is the maximum-likelihood estimate, whose error approaches the Cramér-Rao bound. The batched
   Levenberg-Marquardt solver below refines thousands of points at once; `solver="scipy"` refines each point
   with `scipy.optimize.least_squares` instead (slower, used to cross-check).
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
from scipy.optimize import least_squares

from siamkit.errors import ConfigError

logger = logging.getLogger(__name__)

RefinementSolver = Literal["levenberg_marquardt", "scipy"]

# Ranges below this are treated as this, so the unit direction to a landmark stays defined when a point
# sits on it.
_MIN_RANGE = 1e-12


def trilaterate_linear(landmarks: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Closed-form least-squares positions from ranges.

    Args:
        landmarks: Known landmark positions, `(m, d)`.
        distances: Measured distances of each point to each landmark, `(n, m)`.

    Returns:
        Estimated positions, `(n, d)`.
    """
    _check_inputs(landmarks, distances)
    landmark_mean = landmarks.mean(axis=0)
    design = -2.0 * (landmarks - landmark_mean)
    squared_norms = np.sum(landmarks**2, axis=1)
    squared_ranges = distances**2
    right_hand_sides = (
        squared_ranges - squared_ranges.mean(axis=1, keepdims=True) - (squared_norms - squared_norms.mean())
    )
    if np.linalg.matrix_rank(design) < landmarks.shape[1]:
        logger.warning(
            "landmarks span fewer than %d dimensions: positions are not identifiable, returning the "
            "minimum-norm least-squares solution",
            landmarks.shape[1],
        )
    solution, *_ = np.linalg.lstsq(design, right_hand_sides.T, rcond=None)
    return np.asarray(solution.T)


def range_residuals(landmarks: np.ndarray, distances: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`|x_n - l_i| - r_ni` for every point and landmark, `(n, m)`."""
    ranges = np.linalg.norm(positions[:, None, :] - landmarks[None, :, :], axis=2)
    return np.asarray(ranges - distances)


def refine_positions(
    landmarks: np.ndarray,
    distances: np.ndarray,
    initial: np.ndarray,
    max_iterations: int = 100,
    tolerance: float = 1e-13,
    solver: RefinementSolver = "levenberg_marquardt",
) -> np.ndarray:
    """Nonlinear least-squares refinement of positions: minimises `sum_i (|x - l_i| - r_i)^2` per point.

    Args:
        landmarks: Known landmark positions, `(m, d)`.
        distances: Measured ranges, `(n, m)`.
        initial: Starting positions, `(n, d)`, typically from `trilaterate_linear`.
        max_iterations: Iteration cap of the batched solver.
        tolerance: The batched solver stops once no point moves further than this in an iteration.
        solver: `levenberg_marquardt` (batched, numpy) or `scipy` (`scipy.optimize.least_squares` per point).

    Returns:
        Refined positions, `(n, d)`.
    """
    _check_inputs(landmarks, distances)
    if initial.shape != (distances.shape[0], landmarks.shape[1]):
        raise ConfigError(f"initial positions must be {(distances.shape[0], landmarks.shape[1])}, got {initial.shape}")
    if solver == "scipy":
        return _refine_with_scipy(landmarks, distances, initial)
    if solver != "levenberg_marquardt":
        raise ConfigError(f"refinement solver must be 'levenberg_marquardt' or 'scipy', got {solver!r}")
    return _refine_batched(landmarks, distances, initial, max_iterations, tolerance)


def trilaterate(
    landmarks: np.ndarray,
    distances: np.ndarray,
    refine: bool = True,
    solver: RefinementSolver = "levenberg_marquardt",
) -> np.ndarray:
    """Linearised least squares, then (by default) nonlinear refinement; see the module docstring."""
    positions = trilaterate_linear(landmarks, distances)
    return refine_positions(landmarks, distances, positions, solver=solver) if refine else positions


def _refine_batched(
    landmarks: np.ndarray, distances: np.ndarray, initial: np.ndarray, max_iterations: int, tolerance: float
) -> np.ndarray:
    positions = initial.astype(np.float64, copy=True)
    n_points, n_dimensions = positions.shape
    identity = np.eye(n_dimensions)
    # Levenberg's damping per point: shrink it after a successful step (towards Gauss-Newton), grow it after a
    # failed one (towards gradient descent), so every point's cost never increases.
    damping = np.full(n_points, 1e-3)
    cost = np.sum(range_residuals(landmarks, distances, positions) ** 2, axis=1)
    for _ in range(max_iterations):
        offsets = positions[:, None, :] - landmarks[None, :, :]
        ranges = np.maximum(np.linalg.norm(offsets, axis=2), _MIN_RANGE)
        jacobian = offsets / ranges[:, :, None]
        residuals = ranges - distances
        normal_matrix = np.einsum("nmi,nmj->nij", jacobian, jacobian) + damping[:, None, None] * identity
        gradient = np.einsum("nmi,nm->ni", jacobian, residuals)
        steps = np.linalg.solve(normal_matrix, -gradient[:, :, None])[:, :, 0]
        candidates = positions + steps
        candidate_cost = np.sum(range_residuals(landmarks, distances, candidates) ** 2, axis=1)
        improved = candidate_cost <= cost
        positions[improved] = candidates[improved]
        cost[improved] = candidate_cost[improved]
        damping = np.where(improved, np.maximum(damping / 10.0, 1e-15), np.minimum(damping * 10.0, 1e15))
        step_sizes = np.linalg.norm(steps, axis=1)
        if np.all(np.where(improved, step_sizes, 0.0) <= tolerance) and np.all(improved | (damping >= 1e15)):
            break
    return positions


def _refine_with_scipy(landmarks: np.ndarray, distances: np.ndarray, initial: np.ndarray) -> np.ndarray:
    refined = np.empty_like(initial, dtype=np.float64)
    for index, (start, measured) in enumerate(zip(initial, distances, strict=True)):

        def residual(position: np.ndarray, measured: np.ndarray = measured) -> np.ndarray:
            return np.asarray(np.linalg.norm(position - landmarks, axis=1) - measured)

        def jacobian(position: np.ndarray) -> np.ndarray:
            offsets = position - landmarks
            return np.asarray(offsets / np.maximum(np.linalg.norm(offsets, axis=1), _MIN_RANGE)[:, None])

        refined[index] = least_squares(residual, start, jac=jacobian, method="lm", xtol=1e-15, ftol=1e-15).x
    return refined


def _check_inputs(landmarks: np.ndarray, distances: np.ndarray) -> None:
    if landmarks.ndim != 2 or distances.ndim != 2:
        raise ConfigError(f"landmarks must be (m, d) and distances (n, m), got {landmarks.shape} and {distances.shape}")
    if distances.shape[1] != landmarks.shape[0]:
        raise ConfigError(f"distances have {distances.shape[1]} columns but there are {landmarks.shape[0]} landmarks")
    if landmarks.shape[0] < landmarks.shape[1] + 1:
        raise ConfigError(
            f"trilateration in {landmarks.shape[1]} dimensions needs at least {landmarks.shape[1] + 1} landmarks, "
            f"got {landmarks.shape[0]}"
        )
