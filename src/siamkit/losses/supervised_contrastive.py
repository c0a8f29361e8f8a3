"""Supervised contrastive loss (Khosla et al., "Supervised Contrastive Learning", 2020).

Every item of a batch is an anchor; its same-class items are positives and everything else in the batch is the
competition: the loss is the cross-entropy of picking each positive out of the batch by a softmax over the
anchor's similarities. Where a contrastive or triplet loss looks at one pair or one triplet at a time, this
weighs all of a batch's comparisons at once, so no mining is needed. It is the same in-batch softmax as
sentence-transformers' MultipleNegativesRankingLoss and NT-Xent (SimCLR), with labels deciding the positives.
"""

from __future__ import annotations

import torch

from siamkit.errors import ConfigError
from siamkit.losses.base import LOSSES, SiameseLoss


class SupervisedContrastiveLoss(SiameseLoss):
    """Softmax cross-entropy of each anchor's positives against the rest of the batch.

    For anchor `i` with positives `P(i)` (same label, not `i`) and the similarities `s` of the batch's
    comparison (larger = more alike), the loss is
    `-1/|P(i)| * sum_{p in P(i)} log(exp(s_ip / t) / sum_{a != i} exp(s_ia / t))`, averaged over anchors that
    have a positive (Khosla et al.'s L_out).

    Args:
        temperature: Divides the similarities; smaller values sharpen the softmax towards the hardest
            negatives (0.1 suits unit embeddings, whose similarities span about 2).
    """

    input_kind = "batch"

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"supervised_contrastive: temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, similarities: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of a batch.

        Args:
            similarities: `(B, B)` similarities of every item with every item (larger = more alike).
            labels: `(B,)` class labels.
        """
        count = similarities.shape[0]
        itself = torch.eye(count, dtype=torch.bool, device=similarities.device)
        logits = (similarities / self.temperature).masked_fill(itself, float("-inf"))
        log_probabilities = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        positives = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~itself
        positive_counts = positives.sum(dim=1)
        anchors = positive_counts > 0
        if not bool(anchors.any()):
            return similarities.sum() * 0.0  # no positive pair: nothing to learn, but stay on the graph
        # Only positive entries are summed; the -inf of the diagonal is replaced before it can meet a zero.
        summed = log_probabilities.masked_fill(~positives, 0.0).sum(dim=1)
        return -(summed[anchors] / positive_counts[anchors]).mean()


@LOSSES.register("supervised_contrastive")
def build_supervised_contrastive(temperature: float = 0.1) -> SiameseLoss:
    """Supervised contrastive loss with `temperature`."""
    return SupervisedContrastiveLoss(temperature)
