"""Triplet loss (Schroff, Kalenichenko and Philbin, 2015)."""

from __future__ import annotations

import torch

from siamkit.losses.base import LOSSES, SiameseLoss


class TripletLoss(SiameseLoss):
    """Asks every anchor to be closer to its positive than to its negative by `margin`.

    Per triplet: `max(0, d(a, p) - d(a, n) + margin)`, with `d` the comparison's distance (squared
    Euclidean in the classic form), averaged over triplets.

    Args:
        margin: Required gap between negative and positive distances.
    """

    input_kind = "triplets"

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, anchor_positive: torch.Tensor, anchor_negative: torch.Tensor) -> torch.Tensor:
        return (anchor_positive - anchor_negative + self.margin).clamp_min(0.0).mean()


@LOSSES.register("triplet")
def build_triplet(margin: float = 0.2) -> SiameseLoss:
    """Triplet loss with `margin`."""
    return TripletLoss(margin)
