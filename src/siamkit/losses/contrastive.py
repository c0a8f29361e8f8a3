"""Contrastive loss (Hadsell, Chopra and LeCun, 2006)."""

from __future__ import annotations

import torch

from siamkit.errors import ConfigError
from siamkit.losses.base import LOSSES, SiameseLoss


class ContrastiveLoss(SiameseLoss):
    """Pulls same pairs together and pushes different pairs at least `margin` apart.

    For a distance `d` and label `y` (1 = same, 0 = different) the per-pair loss is
    `y * max(0, d - positive_margin)^2 / 2 + (1 - y) * max(0, margin - d)^2 / 2`, averaged over pairs.

    Args:
        margin: Distance beyond which different pairs cost nothing.
        positive_margin: Distance within which same pairs cost nothing (0, the default, pulls them to one
            point). A positive value is the double-margin form pytorch-metric-learning's `pos_margin` gives: a
            class may keep some spread, which matters when its members genuinely vary (a writer's signatures).
    """

    input_kind = "pairs"

    def __init__(self, margin: float = 1.0, positive_margin: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= positive_margin < margin:
            raise ConfigError(
                f"contrastive loss: positive_margin must be at least 0 and below margin ({margin}), "
                f"got {positive_margin}"
            )
        self.margin = margin
        self.positive_margin = positive_margin

    def forward(self, distances: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        same = labels.to(distances.dtype)
        pull = same * (distances - self.positive_margin).clamp_min(0.0).pow(2)
        push = (1.0 - same) * (self.margin - distances).clamp_min(0.0).pow(2)
        return 0.5 * (pull + push).mean()


@LOSSES.register("contrastive")
def build_contrastive(margin: float = 1.0, positive_margin: float = 0.0) -> SiameseLoss:
    """Contrastive loss with `margin` (and, optionally, `positive_margin`)."""
    return ContrastiveLoss(margin, positive_margin)
