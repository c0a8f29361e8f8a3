"""Binary cross-entropy on pair scores (Koch et al., 2015)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from siamkit.losses.base import LOSSES, SiameseLoss


class BinaryCrossEntropyLoss(SiameseLoss):
    """Cross-entropy between a learned head's same-probability and the pair label (1 = same).

    Takes logits, which is numerically safer than probabilities.

    Args:
        positive_weight: Weight of "same" pairs relative to "different" ones, for unbalanced pair sets.
    """

    input_kind = "pairs"
    needs_logits = True

    def __init__(self, positive_weight: float = 1.0) -> None:
        super().__init__()
        self.positive_weight = positive_weight

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = torch.tensor(self.positive_weight, dtype=logits.dtype, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weight)


@LOSSES.register("binary_cross_entropy")
def build_binary_cross_entropy(positive_weight: float = 1.0) -> SiameseLoss:
    """Binary cross-entropy on logits."""
    return BinaryCrossEntropyLoss(positive_weight)
