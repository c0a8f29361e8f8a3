"""Multi-similarity loss (Wang, Han, Huang, Dong and Scott, "Multi-Similarity Loss with General Pair Weighting
for Deep Metric Learning", CVPR 2019).

Each item of a batch is an anchor. Its pairs are first mined against each other: a negative is kept only if it
is more alike than the anchor's least alike positive minus `epsilon`, a positive only if it is less alike than
the anchor's most alike negative plus `epsilon`. The kept pairs are then weighed by a soft maximum on each side,
so that a pair counts by how much harder it is than the others of its anchor, not only by its own score. This is
the loss pytorch-metric-learning pairs with its `MultiSimilarityMiner`, and one of the strongest pair losses
in its benchmarks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from siamkit.errors import ConfigError
from siamkit.losses.base import LOSSES, SiameseLoss

# Mining tolerance, in the similarity's units (pytorch-metric-learning's default; on unit embeddings a Euclidean
# similarity of -d moves by about as much as the cosine for d near 1, so the miner uses it for distances too).
MULTI_SIMILARITY_EPSILON = 0.1


def multi_similarity_pairs(
    labels: torch.Tensor, similarity: torch.Tensor, epsilon: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mining step: `(B, B)` bool masks of the positives and negatives each anchor (row) keeps.

    Args:
        labels: `(B,)` class labels.
        similarity: `(B, B)` similarities, larger = more alike; read, not differentiated.
        epsilon: Tolerance, in the similarity's units.
    """
    same_class = labels.unsqueeze(0) == labels.unsqueeze(1)
    positives = same_class & ~torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    negatives = ~same_class
    scores = similarity.detach()
    least_alike_positive = scores.masked_fill(~positives, float("inf")).amin(dim=1, keepdim=True)
    most_alike_negative = scores.masked_fill(~negatives, float("-inf")).amax(dim=1, keepdim=True)
    return (
        positives & (scores - epsilon < most_alike_negative),
        negatives & (scores + epsilon > least_alike_positive),
    )


def _soft_maximum_plus_one(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """`log(1 + sum(exp(values)))` over the kept entries of each row (0 for a row with none kept)."""
    masked = values.masked_fill(~keep, float("-inf"))
    zeros = torch.zeros_like(values[:, :1])
    return torch.logsumexp(torch.cat([zeros, masked], dim=1), dim=1)


class MultiSimilarityLoss(SiameseLoss):
    """Soft-weighted positive and negative pairs per anchor, on the cosine similarities of the embeddings.

    For anchor `i` with kept positives `P(i)` and kept negatives `N(i)` (mined as the module docstring says)
    and cosine similarities `s`, the loss is
    `1/alpha * log(1 + sum_{p in P(i)} exp(-alpha (s_ip - base))) +
    1/beta * log(1 + sum_{n in N(i)} exp(beta (s_in - base)))`, averaged over the anchors that have a positive
    in the batch. The loss compares the embeddings by their cosine whatever the model's comparison (its
    `base` is a cosine, as in the paper), so it suits models that normalise their embeddings or compare
    them by cosine, where every siamkit distance ranks pairs as the cosine does.

    Args:
        alpha: Sharpness of the positive side: larger weighs the least alike positives more.
        beta: Sharpness of the negative side: larger weighs the most alike negatives more.
        base: The cosine that separates the two sides (the paper's lambda): positives are pulled above it,
            negatives pushed below it.
        epsilon: Mining tolerance; `None` keeps every pair (the loss without its mining step).
    """

    input_kind = "classes"
    compares_angles = True

    def __init__(
        self,
        alpha: float = 2.0,
        beta: float = 50.0,
        base: float = 0.5,
        epsilon: float | None = MULTI_SIMILARITY_EPSILON,
    ) -> None:
        super().__init__()
        if not alpha > 0 or not beta > 0:
            raise ConfigError(f"multi_similarity: alpha and beta must be positive, got {alpha} and {beta}")
        if not -1.0 <= base <= 1.0:
            raise ConfigError(f"multi_similarity: base is a cosine and must lie in [-1, 1], got {base}")
        if epsilon is not None and not epsilon >= 0:
            raise ConfigError(f"multi_similarity: epsilon must be at least 0 (or null to mine nothing), got {epsilon}")
        self.alpha = alpha
        self.beta = beta
        self.base = base
        self.epsilon = epsilon

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of a batch.

        Args:
            embeddings: `(B, D)` embeddings (normalised here; they need not be already).
            labels: `(B,)` class labels; equal labels make positives, others negatives.
        """
        unit = F.normalize(embeddings, dim=1, eps=1e-8)
        similarities = unit @ unit.T
        itself = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
        positives = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~itself
        anchors = positives.any(dim=1)
        if not bool(anchors.any()):
            return embeddings.sum() * 0.0  # no positive pair: nothing to learn, but stay on the graph
        if self.epsilon is None:
            negatives = labels.unsqueeze(0) != labels.unsqueeze(1)
        else:
            # The selection reads the scores but is not differentiated: it only decides which pairs count.
            positives, negatives = multi_similarity_pairs(labels, similarities, self.epsilon)
        pull = _soft_maximum_plus_one(-self.alpha * (similarities - self.base), positives) / self.alpha
        push = _soft_maximum_plus_one(self.beta * (similarities - self.base), negatives) / self.beta
        return (pull + push)[anchors].mean()


@LOSSES.register("multi_similarity")
def build_multi_similarity(
    alpha: float = 2.0, beta: float = 50.0, base: float = 0.5, epsilon: float | None = MULTI_SIMILARITY_EPSILON
) -> SiameseLoss:
    """Multi-similarity loss with its sharpness `alpha` / `beta`, cosine `base` and mining `epsilon`."""
    return MultiSimilarityLoss(alpha, beta, base, epsilon)
