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

    Past `theta = pi - margin`, `cos(theta + margin)` would rise again and reward moving further from the proxy,
    so there the logit is `cos(theta) - margin sin(margin)` instead (as in the ArcFace reference code): it keeps
    falling with the angle and keeps a gradient.

    Args:
        num_classes: Training classes.
        embedding_dim: Length of the embeddings.
        scale: Logit scale.
        margin: Added to the angle between an embedding and its class proxy, in radians (0.5 is 28.6 degrees).
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 30.0, margin: float = 0.3) -> None:
        super().__init__(num_classes, embedding_dim, scale, margin)

    def margin_cosine(self, cosine: torch.Tensor) -> torch.Tensor:
        widened = torch.cos(torch.acos(cosine.clamp(-_COSINE_LIMIT, _COSINE_LIMIT)) + self.margin)
        fallback = cosine - self.margin * math.sin(self.margin)
        return torch.where(cosine > math.cos(math.pi - self.margin), widened, fallback)


@register_class_loss("arcface")
def build_arcface(num_classes: int, embedding_dim: int, scale: float = 30.0, margin: float = 0.3) -> SiameseLoss:
    """ArcFace over `num_classes` proxies (given by the trainer from the training data)."""
    return ArcFaceLoss(num_classes, embedding_dim, scale, margin)
