"""Manhattan (L1) distance."""

from __future__ import annotations

import torch

from siamkit.comparisons.base import COMPARISONS, Comparison


class ManhattanDistance(Comparison):
    """Sum of absolute differences, less swayed by one large coordinate than Euclidean distance."""

    higher_is_more_similar = False

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return (first - second).abs().sum(dim=-1)

    def pairwise(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return torch.cdist(first, second, p=1.0)


@COMPARISONS.register("manhattan")
def build_manhattan(embedding_dim: int) -> Comparison:
    """Manhattan distance."""
    return ManhattanDistance()
