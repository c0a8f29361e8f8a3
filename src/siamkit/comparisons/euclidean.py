"""Euclidean and squared Euclidean distances."""

from __future__ import annotations

import torch

from siamkit.comparisons.base import COMPARISONS, Comparison

# sqrt has an infinite gradient at 0; clamping the squared distance keeps identical pairs trainable.
_MIN_SQUARED = 1e-12


def squared_distance_matrix(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """All squared Euclidean distances `(N, M)` through one matrix product, clamped at zero."""
    first_norms = first.pow(2).sum(dim=1, keepdim=True)
    second_norms = second.pow(2).sum(dim=1, keepdim=True).T
    return (first_norms + second_norms - 2.0 * first @ second.T).clamp_min(0.0)


class SquaredEuclideanDistance(Comparison):
    """Sum of squared differences; the usual core of the triplet loss."""

    higher_is_more_similar = False

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return (first - second).pow(2).sum(dim=-1)

    def pairwise(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return squared_distance_matrix(first, second)


class EuclideanDistance(Comparison):
    """Straight-line distance between embeddings."""

    higher_is_more_similar = False

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return (first - second).pow(2).sum(dim=-1).clamp_min(_MIN_SQUARED).sqrt()

    def pairwise(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return squared_distance_matrix(first, second).clamp_min(_MIN_SQUARED).sqrt()


@COMPARISONS.register("euclidean")
def build_euclidean(embedding_dim: int) -> Comparison:
    """Euclidean distance; `embedding_dim` is accepted for a uniform factory signature."""
    return EuclideanDistance()


@COMPARISONS.register("squared_euclidean")
def build_squared_euclidean(embedding_dim: int) -> Comparison:
    """Squared Euclidean distance."""
    return SquaredEuclideanDistance()
