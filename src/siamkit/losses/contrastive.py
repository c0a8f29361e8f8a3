"""Contrastive loss (Hadsell, Chopra and LeCun, 2006)."""

from __future__ import annotations

import torch

from siamkit.losses.base import LOSSES, SiameseLoss


class ContrastiveLoss(SiameseLoss):
    """Pulls same pairs together and pushes different pairs at least `margin` apart.

    For a distance `d` and label `y` (1 = same, 0 = different) the per-pair loss is
    `y * d^2 / 2 + (1 - y) * max(0, margin - d)^2 / 2`, averaged over pairs.

    Args:
        margin: Distance beyond which different pairs cost nothing.
    """

    input_kind = "pairs"

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        same = labels.to(distances.dtype)
        pull = same * distances.pow(2)
        push = (1.0 - same) * (self.margin - distances).clamp_min(0.0).pow(2)
        return 0.5 * (pull + push).mean()


@LOSSES.register("contrastive")
def build_contrastive(margin: float = 1.0) -> SiameseLoss:
    """Contrastive loss with `margin`."""
    return ContrastiveLoss(margin)
