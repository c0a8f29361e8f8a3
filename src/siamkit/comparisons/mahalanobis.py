"""A learned Mahalanobis distance: Euclidean distance after a learned linear map."""

from __future__ import annotations

import torch
from torch import nn

from siamkit.comparisons.base import COMPARISONS, Comparison
from siamkit.comparisons.euclidean import EuclideanDistance


class MahalanobisDistance(Comparison):
    """`||L (a - b)||` with a trainable matrix `L`, i.e. a Mahalanobis distance with metric `L^T L`.

    `L` starts as the identity (or its first rows), so training begins from plain Euclidean distance.

    Args:
        embedding_dim: Length of the embeddings.
        projection_dim: Rows of `L`; fewer than `embedding_dim` gives a low-rank metric.
    """

    higher_is_more_similar = False

    def __init__(self, embedding_dim: int, projection_dim: int | None = None) -> None:
        super().__init__()
        rows = projection_dim or embedding_dim
        self.projection = nn.Linear(embedding_dim, rows, bias=False)
        with torch.no_grad():
            self.projection.weight.copy_(torch.eye(rows, embedding_dim))
        self.euclidean = EuclideanDistance()

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.euclidean(self.projection(first), self.projection(second))

    def pairwise(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.euclidean.pairwise(self.projection(first), self.projection(second))


@COMPARISONS.register("mahalanobis")
def build_mahalanobis(embedding_dim: int, projection_dim: int | None = None) -> Comparison:
    """A learned Mahalanobis distance."""
    return MahalanobisDistance(embedding_dim, projection_dim)
