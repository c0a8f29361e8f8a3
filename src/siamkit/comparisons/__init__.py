"""Comparisons (m2): how two embeddings are turned into one score.

Fixed distances (Euclidean, squared Euclidean, Manhattan, cosine) and learned ones (Mahalanobis, a
nonlinear head). Each knows whether a larger score means more alike (`higher_is_more_similar`).
"""

from siamkit.comparisons.base import COMPARISONS, Comparison, ComparisonConfig, create_comparison
from siamkit.comparisons.cosine import CosineDistance
from siamkit.comparisons.euclidean import EuclideanDistance, SquaredEuclideanDistance
from siamkit.comparisons.learned_head import LearnedHead
from siamkit.comparisons.mahalanobis import MahalanobisDistance
from siamkit.comparisons.manhattan import ManhattanDistance

__all__ = [
    "COMPARISONS",
    "Comparison",
    "ComparisonConfig",
    "CosineDistance",
    "EuclideanDistance",
    "LearnedHead",
    "MahalanobisDistance",
    "ManhattanDistance",
    "SquaredEuclideanDistance",
    "create_comparison",
]
