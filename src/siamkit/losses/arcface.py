"""ArcFace: additive angular margin loss (Deng et al., 2019)."""

from __future__ import annotations

import math

import torch

from siamkit.losses.base import SiameseLoss, register_class_loss
from siamkit.losses.class_proxies import ClassProxyLoss

# acos has an infinite slope at +-1; cosines are kept this far inside.
_COSINE_LIMIT = 1.0 - 1e-6


class ArcFaceLoss(ClassProxyLoss):
    """Proxy softmax where the true class's *angle* is widened by `margin` radians: its logit is
    `scale cos(theta + margin)`.

    The widened angle is capped at pi so the logit keeps falling as the angle grows (uncapped, an embedding
    past `pi - margin` from its proxy would be rewarded for moving further away).

    Args:
        num_classes: Training classes.
        embedding_dim: Length of the embeddings.
        scale: Logit scale.
        margin: Added to the angle between an embedding and its class proxy, in radians (0.5 is 28.6 degrees).
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 30.0, margin: float = 0.3) -> None:
        super().__init__(num_classes, embedding_dim, scale, margin)

    def margin_cosine(self, cosine: torch.Tensor) -> torch.Tensor:
        angle = torch.acos(cosine.clamp(-_COSINE_LIMIT, _COSINE_LIMIT))
        return torch.cos((angle + self.margin).clamp_max(math.pi))


@register_class_loss("arcface")
def build_arcface(num_classes: int, embedding_dim: int, scale: float = 30.0, margin: float = 0.3) -> SiameseLoss:
    """ArcFace over `num_classes` proxies (given by the trainer from the training data)."""
    return ArcFaceLoss(num_classes, embedding_dim, scale, margin)
