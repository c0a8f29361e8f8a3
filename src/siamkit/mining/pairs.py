"""Forming pairs from the embeddings of one batch (each image is encoded once, pairs are index pairs)."""

from __future__ import annotations

import torch

from siamkit.errors import ConfigError, DataError
from siamkit.losses.multi_similarity import MULTI_SIMILARITY_EPSILON, multi_similarity_pairs
from siamkit.mining.strategies import check_strategy


def check_labels(labels: torch.Tensor) -> int:
    """Raises a DataError unless `labels` is one class label per batch item; returns the batch size."""
    if labels.ndim != 1:
        raise DataError(f"labels must be a 1-D tensor of class labels, got shape {tuple(labels.shape)}")
    return int(labels.shape[0])


def check_square(matrix: torch.Tensor, batch_size: int, name: str) -> None:
    """Raises a DataError unless `matrix` is `(batch_size, batch_size)`."""
    if tuple(matrix.shape) != (batch_size, batch_size):
        raise DataError(
            f"{name} must be a ({batch_size}, {batch_size}) matrix for {batch_size} labels, got {tuple(matrix.shape)}"
        )


def mine_pairs(
    labels: torch.Tensor,
    similarity: torch.Tensor | None = None,
    strategy: str = "all",
    epsilon: float = MULTI_SIMILARITY_EPSILON,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Picks pairs `(i, j)` with `i < j` from a batch and labels them 1 (same class) or 0 (different).

    Strategies:
        `all`: every pair of the upper triangle, `B (B - 1) / 2` of them.
        `hard`: every positive pair plus as many negative pairs as there are positives (at least one when
            the batch has any negative), taking the negatives that are most alike by `similarity`. This keeps
            the pair set balanced while spending the negative half on the pairs the model confuses most.
            Ties are broken towards the earlier pair in upper-triangle order, so the result is
            deterministic.
        `multi_similarity`: the pair-mining step of Wang et al.'s multi-similarity loss (pytorch-metric-learning's
            `MultiSimilarityMiner`): seen from each anchor, a negative is kept if it is more alike than the
            anchor's least alike positive minus `epsilon`, a positive if it is less alike than the anchor's
            most alike negative plus `epsilon`; a pair is kept if either of its two items keeps it. Unlike
            `hard`, the number of pairs follows how confused the batch is, and easy positives are dropped too.
        `semi_hard`: not defined for pairs (it is relative to an anchor-positive distance); raises a
            ConfigError. Use it with a triplet loss.

    Args:
        labels: `(B,)` class labels.
        similarity: `(B, B)` matrix where larger means more alike (for instance
            `comparison.similarity(comparison.pairwise(e, e))`); needed by `hard` and `multi_similarity`,
            ignored by `all`. It is only read, never differentiated.
        strategy: `all`, `hard` or `multi_similarity`.
        epsilon: The tolerance of `multi_similarity`, in the units of `similarity`.

    Returns:
        `(first_index, second_index, pair_labels)`, each `(P,)` int64, in upper-triangle (row-major) order.

    Raises:
        ConfigError: Unknown strategy, `semi_hard`, or `hard` / `multi_similarity` without `similarity`.
        DataError: `labels` or `similarity` have the wrong shape.
    """
    check_strategy(strategy, for_pairs=True)
    batch_size = check_labels(labels)
    first, second = torch.triu_indices(batch_size, batch_size, offset=1, device=labels.device)
    pair_labels = (labels[first] == labels[second]).long()
    if strategy == "all":
        return first, second, pair_labels
    if similarity is None:
        raise ConfigError(f"{strategy} pair mining needs the (B, B) similarity matrix of the batch")
    check_square(similarity, batch_size, "similarity")
    if strategy == "multi_similarity":
        kept_positives, kept_negatives = multi_similarity_pairs(labels, similarity, epsilon)
        kept = kept_positives | kept_negatives
        chosen = (kept | kept.T)[first, second]  # a pair is kept if either of its items keeps it
        return first[chosen], second[chosen], pair_labels[chosen]
    positive_indices = torch.nonzero(pair_labels == 1).flatten()
    negative_indices = torch.nonzero(pair_labels == 0).flatten()
    wanted = min(int(negative_indices.numel()), max(int(positive_indices.numel()), 1))
    negative_similarity = similarity.detach()[first[negative_indices], second[negative_indices]]
    order = torch.sort(negative_similarity, descending=True, stable=True).indices[:wanted]
    selected = torch.sort(torch.cat([positive_indices, negative_indices[order]])).values
    return first[selected], second[selected], pair_labels[selected]
