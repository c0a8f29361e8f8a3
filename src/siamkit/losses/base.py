"""The loss registry and the input kinds losses consume."""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from siamkit.registry import Registry

LossInput = Literal["pairs", "triplets", "regression"]

LOSSES: Registry[SiameseLoss] = Registry("loss")


class SiameseLoss(nn.Module):
    """Base class of siamkit losses.

    Attributes:
        input_kind: What the loss consumes: `pairs` (scores of pairs with 1 = same / 0 = different labels),
            `triplets` (anchor-positive and anchor-negative distances) or `regression` (distances with
            target distances).
        needs_logits: True when the loss needs a comparison that outputs logits (a learned head).
    """

    input_kind: LossInput = "pairs"
    needs_logits: bool = False


def create_loss(name: str, **options: Any) -> SiameseLoss:
    """Builds the loss registered as `name` (`contrastive`, `triplet`, `binary_cross_entropy`,
    `distance_regression`)."""
    return LOSSES.create(name, **options)
