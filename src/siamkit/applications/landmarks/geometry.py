"""Points, landmarks and the range measurements between them, plus the error measures used throughout.

Everything lives in the unit cube, as in the blog post the experiment comes from: landmarks and points are
drawn uniformly from `[0, 1]^d`, and a point is described only by its Euclidean distances to the landmarks.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import cdist, pdist

from siamkit.errors import ConfigError


def sample_unit_cube(rng: np.random.Generator, n_points: int, n_dimensions: int) -> np.ndarray:
    """Draws `n_points` points uniformly from the unit cube `[0, 1]^n_dimensions`, shaped `(n, d)`."""
    if n_points < 0 or n_dimensions < 1:
        raise ConfigError(f"need n_points >= 0 and n_dimensions >= 1, got {n_points} and {n_dimensions}")
    return rng.random((n_points, n_dimensions))


def landmark_distances(points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Euclidean distance of every point to every landmark, shaped `(n_points, n_landmarks)`."""
    return cdist(points, landmarks)


def add_range_noise(distances: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Adds independent Gaussian noise of standard deviation `sigma` to every range measurement.

    Negative results are kept: clipping at zero would bias the ranges and break the Gaussian model the
    Cramér-Rao bound assumes (with ranges around 1 and sigma <= 0.2 it practically never happens).
    """
    if sigma < 0:
        raise ConfigError(f"noise sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return distances.copy()
    return distances + rng.normal(0.0, sigma, size=distances.shape)


def post_error(true_points: np.ndarray, predicted_points: np.ndarray) -> float:
    """The blog post's error measure: summed |true - predicted| pairwise distance over all pairs, per point.

    It sums the absolute differences over the lower triangle of the two distance matrices and divides by
    the number of points, so it equals `(n - 1) / 2` times the mean error per pair and grows with the size
    of the test set. It ignores any rotation, reflection or translation of the prediction.
    """
    _check_same_shape(true_points, predicted_points)
    gaps = np.abs(pdist(true_points) - pdist(predicted_points))
    return float(gaps.sum() / len(true_points))


def pair_distance_error(true_points: np.ndarray, predicted_points: np.ndarray) -> float:
    """Mean absolute difference between true and predicted pairwise distances, per pair.

    The size-independent version of `post_error`: `post_error = (n - 1) / 2 * pair_distance_error`.
    """
    _check_same_shape(true_points, predicted_points)
    if len(true_points) < 2:
        raise ConfigError("the pairwise distance error needs at least two points")
    return float(np.mean(np.abs(pdist(true_points) - pdist(predicted_points))))


def distance_spread_ratio(true_points: np.ndarray, predicted_points: np.ndarray) -> float:
    """Standard deviation of predicted pairwise distances over that of the true ones.

    Near 0 means the prediction has collapsed to "every pair is equally far apart"; near 1 is healthy.
    """
    true_spread = float(np.std(pdist(true_points)))
    return float(np.std(pdist(predicted_points))) / true_spread if true_spread > 0 else float("nan")


def coordinate_rmse(true_points: np.ndarray, predicted_points: np.ndarray) -> float:
    """Root mean squared Euclidean position error, `sqrt(mean_n |x_n - x̂_n|^2)`."""
    _check_same_shape(true_points, predicted_points)
    return float(np.sqrt(np.mean(np.sum((true_points - predicted_points) ** 2, axis=1))))


def fit_rigid_alignment(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rotation (or reflection) and translation that best map `source` onto `target` (least squares).

    Distances alone fix a configuration only up to such a rigid motion, so predictions made from distances
    are aligned before their coordinates are compared. Returns `(rotation, translation)` with
    `aligned = source @ rotation + translation`.
    """
    _check_same_shape(source, target)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    rotation, _ = orthogonal_procrustes(source - source_mean, target - target_mean)
    return rotation, target_mean - source_mean @ rotation


def align_rigidly(points: np.ndarray, source_anchors: np.ndarray, target_anchors: np.ndarray) -> np.ndarray:
    """Moves `points` by the rigid motion that best maps `source_anchors` onto `target_anchors`."""
    rotation, translation = fit_rigid_alignment(source_anchors, target_anchors)
    return points @ rotation + translation


def _check_same_shape(first: np.ndarray, second: np.ndarray) -> None:
    if first.shape != second.shape:
        raise ConfigError(f"point sets must have the same shape, got {first.shape} and {second.shape}")
