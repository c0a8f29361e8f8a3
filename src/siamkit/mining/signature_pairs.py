"""In-batch loss for signatures: genuine pairs of a writer are "same", forgeries are that writer's negatives.

Pair rules inside a batch (writers `w`, genuine flags `g`):
    - both genuine, same writer: same (1);
    - a genuine signature and a forgery of the same writer: different (0), the skilled-forgery hard negative;
    - any two signatures of different writers: different (0);
    - two forgeries of the same writer: left out. They imitate one signature, often by different forgers,
      so calling them the same would teach the model to accept forgeries, and calling them different
      would fight the genuine-vs-forgery distinction for no gain.
"""

from __future__ import annotations

import torch

from siamkit.comparisons import Comparison
from siamkit.errors import DataError
from siamkit.losses import SiameseLoss
from siamkit.mining.objective import check_objective, in_batch_loss
from siamkit.mining.pairs import mine_pairs


def forgery_pair_exclusions(writers: torch.Tensor, genuine: torch.Tensor) -> torch.Tensor:
    """`(B, B)` bool: True for the pairs to leave out, two distinct forgeries of the same writer."""
    forgery = ~genuine
    excluded = (writers[:, None] == writers[None, :]) & forgery[:, None] & forgery[None, :]
    excluded.fill_diagonal_(False)
    return excluded


def signature_batch_labels(writers: torch.Tensor, genuine: torch.Tensor) -> torch.Tensor:
    """Class labels that make only genuine pairs of one writer "same": the writer for genuine signatures,
    a label of its own (above every writer) for each forgery."""
    labels = writers.clone()
    forgeries = torch.nonzero(~genuine).flatten()
    first_free = int(writers.max()) + 1 if writers.numel() else 0
    labels[forgeries] = first_free + torch.arange(forgeries.numel(), dtype=labels.dtype, device=labels.device)
    return labels


def signature_pairs_in_batch(
    writers: torch.Tensor, genuine: torch.Tensor, similarity: torch.Tensor | None = None, strategy: str = "all"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs `(i, j)`, `i < j`, of a signature batch under the rules above, with labels 1 (same) / 0.

    Args:
        writers: `(B,)` writer of each signature.
        genuine: `(B,)` True for genuine signatures.
        similarity: `(B, B)` similarities (larger = more alike), needed by `hard` and `multi_similarity`.
        strategy: `all`, `hard` (every positive and as many of the most alike negatives) or
            `multi_similarity`, as `mine_pairs`.
    """
    if writers.shape != genuine.shape or writers.ndim != 1:
        raise DataError(f"writers and genuine must be (B,) each, got {tuple(writers.shape)} and {tuple(genuine.shape)}")
    labels = signature_batch_labels(writers, genuine)
    excluded = forgery_pair_exclusions(writers, genuine)
    if similarity is not None:
        # Left-out pairs rank last among negatives, so `hard` never spends its negative budget on them.
        similarity = similarity.detach().masked_fill(excluded, float("-inf"))
    first, second, pair_labels = mine_pairs(labels, similarity, strategy)
    kept = ~excluded[first, second]
    return first[kept], second[kept], pair_labels[kept]


def signature_in_batch_loss(
    embeddings: torch.Tensor,
    writers: torch.Tensor,
    genuine: torch.Tensor,
    comparison: Comparison,
    loss: SiameseLoss,
    strategy: str = "all",
) -> torch.Tensor:
    """The loss of a signature batch: pair losses over `signature_pairs_in_batch`, triplet losses with genuine
    anchors and positives and any other writer's signature or any forgery of the anchor's writer as negative.

    Args:
        embeddings: `(B, D)` embeddings, each signature encoded once.
        writers: `(B,)` writer of each signature.
        genuine: `(B,)` True for genuine signatures.
        comparison: Scores pairs of embeddings.
        loss: A pair or triplet loss.
        strategy: Mining strategy (`all`, `hard`; `semi_hard` for triplets, `multi_similarity` for pairs).
    """
    writers = writers.to(embeddings.device)
    genuine = genuine.to(embeddings.device)
    if loss.input_kind != "pairs":
        # A forgery has a label of its own, so it is never an anchor or a positive, only a negative; the
        # forgery-forgery pairs of one writer never arise.
        return in_batch_loss(embeddings, signature_batch_labels(writers, genuine), comparison, loss, strategy=strategy)
    check_objective(comparison, loss, strategy)
    if embeddings.ndim != 2 or embeddings.shape[0] != writers.shape[0]:
        raise DataError(f"signature loss needs (B, D) embeddings for {writers.shape[0]} signatures")
    if comparison.outputs_logits:
        similarity = None
        if strategy != "all":
            with torch.no_grad():
                similarity = comparison.similarity(comparison.pairwise(embeddings, embeddings))
        first, second, pair_labels = signature_pairs_in_batch(writers, genuine, similarity, strategy)
        if first.numel() == 0:
            return embeddings.sum() * 0.0  # still differentiable, so backward() works on an empty batch
        return loss(comparison(embeddings[first], embeddings[second]), pair_labels)
    matrix = comparison.pairwise(embeddings, embeddings)
    first, second, pair_labels = signature_pairs_in_batch(
        writers, genuine, comparison.similarity(matrix.detach()), strategy
    )
    if first.numel() == 0:
        return embeddings.sum() * 0.0
    return loss(matrix[first, second], pair_labels)
