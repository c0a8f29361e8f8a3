"""The shared part of losses that learn one proxy vector per training class (CosFace, ArcFace).

Pair and triplet losses see only the negatives that happen to share a batch; a proxy loss compares every
embedding with a learned unit vector for *every* training class at each step, as a classifier over all classes
whose logits are scaled cosines. Only the encoder is kept after training: the proxies are a training device,
and the embeddings they shape are compared by angle (cosine, or Euclidean distance of L2-normalised embeddings).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from siamkit.errors import ConfigError, DataError
from siamkit.losses.base import SiameseLoss


class ClassProxyLoss(SiameseLoss):
    """Softmax cross-entropy over `scale x cosine(embedding, class proxy)` with a margin on the true class.

    Subclasses say how the true class's cosine is penalised (`margin_cosine`), which is all that separates
    CosFace from ArcFace; with a zero margin both are the normalised softmax (NormFace).

    Args:
        num_classes: Training classes (labels must lie in `0..num_classes - 1`).
        embedding_dim: Length of the embeddings.
        scale: Multiplies the cosines into logits; larger values sharpen the softmax.
        margin: How much harder the true class is made to win (units set by the subclass).
    """

    input_kind = "classes"
    compares_angles = True

    def __init__(self, num_classes: int, embedding_dim: int, scale: float, margin: float) -> None:
        super().__init__()
        if num_classes < 2 or embedding_dim < 1:
            raise ConfigError(
                f"{type(self).__name__} needs at least 2 classes and a positive embedding_dim, "
                f"got {num_classes} and {embedding_dim}"
            )
        if scale <= 0 or margin < 0:
            raise ConfigError(f"{type(self).__name__} needs scale > 0 and margin >= 0, got {scale} and {margin}")
        self.scale = scale
        self.margin = margin
        # Unit-length random directions: an optimiser step then turns a proxy as much as it moves an embedding.
        self.proxies = nn.Parameter(F.normalize(torch.randn(num_classes, embedding_dim), dim=1))

    @property
    def num_classes(self) -> int:
        return int(self.proxies.shape[0])

    def margin_cosine(self, cosine: torch.Tensor) -> torch.Tensor:
        """The penalised cosine of each embedding with its own class's proxy."""
        raise NotImplementedError

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """`(B, num_classes)` cosine of every embedding with every class proxy."""
        return F.normalize(embeddings, dim=1) @ F.normalize(self.proxies, dim=1).T

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embeddings.ndim != 2 or embeddings.shape[1] != self.proxies.shape[1]:
            raise DataError(
                f"{type(self).__name__} needs (B, {self.proxies.shape[1]}) embeddings, got {tuple(embeddings.shape)}"
            )
        if labels.shape != (embeddings.shape[0],):
            raise DataError(f"{type(self).__name__} needs one label per embedding, got {tuple(labels.shape)}")
        labels = labels.long()
        if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < self.num_classes:
            raise DataError(f"{type(self).__name__} labels must lie in 0..{self.num_classes - 1}")
        cosine = self.cosines(embeddings.to(self.proxies.dtype))
        own = cosine.gather(1, labels[:, None])
        logits = cosine.scatter(1, labels[:, None], self.margin_cosine(own))
        return F.cross_entropy(self.scale * logits, labels)
