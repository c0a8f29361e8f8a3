"""CosFace: large-margin cosine loss (Wang et al., 2018)."""

from __future__ import annotations

import torch

from siamkit.losses.base import SiameseLoss, register_class_loss
from siamkit.losses.class_proxies import ClassProxyLoss


class CosFaceLoss(ClassProxyLoss):
    """Proxy softmax where the true class's cosine must win by `margin`: its logit is `scale (cos - margin)`.

    With `margin=0` this is the normalised softmax (NormFace). Needs only class labels, so it trains on the
    same P x K batches as the triplet loss, and sees every training class as a negative at every step.

    Args:
        num_classes: Training classes.
        embedding_dim: Length of the embeddings.
        scale: Logit scale (the CosFace paper uses 64 for face identities).
        margin: Subtracted from the true class's cosine.
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 30.0, margin: float = 0.25) -> None:
        super().__init__(num_classes, embedding_dim, scale, margin)

    def margin_cosine(self, cosine: torch.Tensor) -> torch.Tensor:
        return cosine - self.margin


@register_class_loss("cosface")
def build_cosface(num_classes: int, embedding_dim: int, scale: float = 30.0, margin: float = 0.25) -> SiameseLoss:
    """CosFace over `num_classes` proxies (given by the trainer from the training data)."""
    return CosFaceLoss(num_classes, embedding_dim, scale, margin)
