"""Forming triplets (anchor, positive, negative) from the distance matrix of one batch."""

from __future__ import annotations

import torch

from siamkit.errors import ConfigError
from siamkit.mining.pairs import check_labels, check_square
from siamkit.mining.strategies import check_strategy


def mine_triplets(
    distances: torch.Tensor,
    labels: torch.Tensor,
    strategy: str = "semi_hard",
    margin: float = 0.2,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Picks triplets `(a, p, n)`: `p != a` shares `a`'s class, `n` has another class.

    Every ordered anchor-positive pair `(a, p)` with `a != p` is used (so `(p, a)` is too); the strategy
    decides which negatives go with it:

        `all`: every negative, giving every valid triplet of the batch.
        `hard`: the hardest negative, the one closest to the anchor. It depends only on the anchor, so
            this is also "batch-hard" with all positives kept (not only the hardest positive).
        `semi_hard`: the hardest semi-hard negative, the closest one with
            `d(a, p) < d(a, n) < d(a, p) + margin` (FaceNet, Schroff et al. 2015; as TensorFlow's
            semi-hard triplet loss). Such negatives violate the margin without being closer than the
            positive, which avoids the collapse that pure hard mining can cause early on. When an
            anchor-positive pair has none, it falls back to the hardest negative.

    Ties go to the lowest index. Anchors are processed `chunk_size` at a time and each chunk's
    intermediates hold one row of `B` values per anchor-positive pair, at most `chunk_size x B x B`
    (less in class-balanced batches, where an anchor has few positives); no `B x B x B` tensor is built.

    Args:
        distances: `(B, B)` matrix, smaller is closer. Only read, never differentiated.
        labels: `(B,)` class labels.
        strategy: `all`, `hard` or `semi_hard`.
        margin: The semi-hard band's width (use the triplet loss's margin).
        chunk_size: Anchors handled at once.

    Returns:
        `(anchor, positive, negative)` index tensors, each `(T,)` int64, ordered by anchor, then positive,
        then negative. Empty when the batch has no class with two items or only one class.

    Raises:
        ConfigError: Unknown strategy or `chunk_size < 1`.
        DataError: `labels` or `distances` have the wrong shape.
    """
    check_strategy(strategy, for_triplets=True)
    if chunk_size < 1:
        raise ConfigError(f"mining chunk_size must be at least 1, got {chunk_size}")
    batch_size = check_labels(labels)
    check_square(distances, batch_size, "distances")
    distances = distances.detach()
    device = labels.device
    items = torch.arange(batch_size, device=device)
    anchors_found: list[torch.Tensor] = []
    positives_found: list[torch.Tensor] = []
    negatives_found: list[torch.Tensor] = []
    for start in range(0, batch_size, chunk_size):
        anchors = items[start : start + chunk_size]
        same_class = labels[anchors, None] == labels[None, :]
        is_negative = ~same_class
        is_positive = same_class & (anchors[:, None] != items[None, :]) & is_negative.any(dim=1, keepdim=True)
        # One row per anchor-positive pair of the chunk, in (anchor, positive) order.
        anchor_rows, positive = torch.nonzero(is_positive, as_tuple=True)
        anchor = anchors[anchor_rows]
        if strategy == "all":
            pair_rows, negative = torch.nonzero(is_negative[anchor_rows], as_tuple=True)
            anchor, positive = anchor[pair_rows], positive[pair_rows]
        else:
            inf = torch.tensor(float("inf"), dtype=distances.dtype, device=distances.device)
            negative_distances = torch.where(is_negative, distances[anchors], inf)
            negative = negative_distances.argmin(dim=1)[anchor_rows]
            if strategy == "semi_hard":
                candidates = negative_distances[anchor_rows]
                positive_distances = distances[anchor, positive][:, None]
                in_band = (candidates > positive_distances) & (candidates < positive_distances + margin)
                semi_hard = torch.where(in_band, candidates, inf).argmin(dim=1)
                negative = torch.where(in_band.any(dim=1), semi_hard, negative)
        anchors_found.append(anchor)
        positives_found.append(positive)
        negatives_found.append(negative)
    if not anchors_found:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty.clone(), empty.clone()
    return torch.cat(anchors_found), torch.cat(positives_found), torch.cat(negatives_found)
