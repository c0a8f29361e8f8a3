"""Cosine distance."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from siamkit.comparisons.base import COMPARISONS, Comparison


class CosineDistance(Comparison):
    """One minus the cosine of the angle between embeddings: 0 for the same direction, 2 for opposite.

    It ignores embedding length, so encoders need no explicit normalisation.
    """

    higher_is_more_similar = False

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return 1.0 - F.cosine_similarity(first, second, dim=-1, eps=1e-8)

    def pairwise(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return 1.0 - F.normalize(first, dim=-1, eps=1e-8) @ F.normalize(second, dim=-1, eps=1e-8).T


@COMPARISONS.register("cosine")
def build_cosine(embedding_dim: int) -> Comparison:
    """Cosine distance."""
    return CosineDistance()
