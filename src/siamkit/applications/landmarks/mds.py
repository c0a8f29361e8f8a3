"""Classical multidimensional scaling and landmark MDS (de Silva & Tenenbaum, 2004).

Classical MDS turns a complete matrix of Euclidean distances into coordinates, unique up to a rigid motion:
double-centring the squared distances gives the Gram matrix `B = -1/2 J D^2 J`, whose top eigenvectors
scaled by the square roots of their eigenvalues are the coordinates.

Landmark MDS needs only the distances among `m` landmarks plus each new point's distances to the landmarks,
which is exactly the information the Siamese network of the landmark experiment gets. The landmarks are
embedded by classical MDS; a new point with squared landmark distances `δ` is then placed by the closed-form
"distance-based triangulation" `x = -1/2 L# (δ - δ̄)`, where `L#` holds the eigenvectors divided by the
square roots of their eigenvalues and `δ̄` is the mean column of the landmarks' squared distance matrix.
For exact Euclidean distances and landmarks that span the space it is exact (up to the same rigid motion as
the landmarks). Unlike trilateration it never needs the landmarks' coordinates.
"""

from __future__ import annotations

import logging

import numpy as np

from siamkit.errors import ConfigError

logger = logging.getLogger(__name__)

# Eigenvalues below this fraction of the largest count as zero (numerical noise of a lower-rank Gram matrix).
_RELATIVE_EIGENVALUE_FLOOR = 1e-12


def double_centered_gram(distance_matrix: np.ndarray) -> np.ndarray:
    """`B = -1/2 J D^2 J` with `J = I - 11^T / n`: the Gram matrix of the centred configuration."""
    _check_square_distances(distance_matrix)
    squared = distance_matrix**2
    return np.asarray(
        -0.5 * (squared - squared.mean(axis=0, keepdims=True) - squared.mean(axis=1, keepdims=True) + squared.mean())
    )


def classical_mds(distance_matrix: np.ndarray, n_dimensions: int) -> np.ndarray:
    """Coordinates `(n, n_dimensions)` whose pairwise distances best match `distance_matrix` (Torgerson).

    Args:
        distance_matrix: Symmetric `(n, n)` matrix of distances with a zero diagonal.
        n_dimensions: Number of coordinates per point.

    Returns:
        The centred configuration; for exact Euclidean distances of points in `n_dimensions` dimensions it
        equals the original points up to a rotation, reflection and translation.
    """
    eigenvalues, eigenvectors = _top_eigenpairs(double_centered_gram(distance_matrix), n_dimensions)
    return np.asarray(eigenvectors * np.sqrt(eigenvalues))


class LandmarkMDS:
    """Embeds landmarks by classical MDS, then places any point from its distances to those landmarks.

    Args:
        n_dimensions: Number of coordinates of the embedding.
    """

    def __init__(self, n_dimensions: int) -> None:
        if n_dimensions < 1:
            raise ConfigError(f"landmark MDS needs n_dimensions >= 1, got {n_dimensions}")
        self.n_dimensions = n_dimensions
        self.landmark_coordinates: np.ndarray | None = None
        self._triangulation: np.ndarray | None = None
        self._mean_squared_distances: np.ndarray | None = None

    def fit(self, landmark_distance_matrix: np.ndarray) -> LandmarkMDS:
        """Embeds the landmarks from their `(m, m)` distance matrix; needs `m >= n_dimensions + 1`."""
        _check_square_distances(landmark_distance_matrix)
        n_landmarks = landmark_distance_matrix.shape[0]
        if n_landmarks < self.n_dimensions + 1:
            raise ConfigError(
                f"landmark MDS in {self.n_dimensions} dimensions needs at least {self.n_dimensions + 1} "
                f"landmarks, got {n_landmarks}"
            )
        eigenvalues, eigenvectors = _top_eigenpairs(double_centered_gram(landmark_distance_matrix), self.n_dimensions)
        self.landmark_coordinates = eigenvectors * np.sqrt(eigenvalues)
        self._triangulation = eigenvectors * _inverse_square_roots(eigenvalues)
        self._mean_squared_distances = (landmark_distance_matrix**2).mean(axis=0)
        return self

    def transform(self, distances: np.ndarray) -> np.ndarray:
        """Places points from their `(n, m)` distances to the fitted landmarks, giving `(n, n_dimensions)`."""
        if self._triangulation is None or self._mean_squared_distances is None:
            raise ConfigError("landmark MDS must be fitted on the landmark distances before transform")
        if distances.ndim != 2 or distances.shape[1] != self._triangulation.shape[0]:
            raise ConfigError(
                f"distances must be (n, {self._triangulation.shape[0]}) to match the landmarks, got {distances.shape}"
            )
        return np.asarray(-0.5 * (distances**2 - self._mean_squared_distances) @ self._triangulation)


def _top_eigenpairs(gram: np.ndarray, n_dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    if n_dimensions > gram.shape[0]:
        raise ConfigError(f"cannot embed {gram.shape[0]} points in {n_dimensions} dimensions")
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1][:n_dimensions]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    floor = _RELATIVE_EIGENVALUE_FLOOR * max(float(eigenvalues[0]), 0.0)
    positive = eigenvalues > floor
    if not np.all(positive):
        # Noisy (non-Euclidean) distances or a configuration of lower rank: an axis without a positive
        # eigenvalue gets zero length, the least-squares choice.
        logger.warning(
            "the distances support fewer than %d positive dimensions; the extra coordinates are set to zero",
            n_dimensions,
        )
    return np.where(positive, eigenvalues, 0.0), eigenvectors


def _inverse_square_roots(eigenvalues: np.ndarray) -> np.ndarray:
    roots = np.sqrt(eigenvalues)
    return np.divide(1.0, roots, out=np.zeros_like(roots), where=roots > 0)


def _check_square_distances(distance_matrix: np.ndarray) -> None:
    if distance_matrix.ndim != 2 or distance_matrix.shape[0] != distance_matrix.shape[1]:
        raise ConfigError(f"a distance matrix must be square, got shape {distance_matrix.shape}")
    if not np.all(np.isfinite(distance_matrix)):
        raise ConfigError("the distance matrix contains NaN or infinite values")
