"""The training loss of a batch: mine pairs or triplets from its embeddings, score them, apply the loss.

Each image of a batch is encoded once; pairs and triplets are index tuples into the batch's embeddings,
so a batch of `B` images yields up to `B (B - 1) / 2` pairs or `O(B^3)` triplets for the cost of `B`
encoder passes.
"""

from __future__ import annotations

import logging

import torch

from siamkit.comparisons import Comparison
from siamkit.errors import ConfigError, DataError
from siamkit.losses import SiameseLoss
from siamkit.mining.pairs import mine_pairs
from siamkit.mining.strategies import check_strategy
from siamkit.mining.triplets import mine_triplets

logger = logging.getLogger(__name__)

# Semi-hard band width when neither the caller nor the loss gives a margin (FaceNet's value).
DEFAULT_SEMI_HARD_MARGIN = 0.2


def _name(component: object) -> str:
    return type(component).__name__


def _check_distance(comparison: Comparison, loss: SiameseLoss) -> None:
    """Losses over distances (contrastive, triplet, regression) need a comparison where smaller is closer."""
    if comparison.higher_is_more_similar or comparison.outputs_logits:
        raise ConfigError(
            f"loss {_name(loss)} needs a distance comparison (euclidean, squared_euclidean, manhattan, cosine, "
            f"mahalanobis), but {_name(comparison)} scores similarity; use binary_cross_entropy with it instead"
        )


def _check_pair_scores(comparison: Comparison, loss: SiameseLoss) -> None:
    if loss.needs_logits and not comparison.outputs_logits:
        raise ConfigError(
            f"loss {_name(loss)} needs a comparison that outputs logits (learned_head), got {_name(comparison)}"
        )
    if not loss.needs_logits:
        _check_distance(comparison, loss)


def check_objective(comparison: Comparison, loss: SiameseLoss, strategy: str = "all") -> None:
    """Raises a ConfigError unless `loss` can train on in-batch pairs/triplets scored by `comparison`.

    Trainers call this before the first batch so a bad combination fails at once, not after loading data.

    Raises:
        ConfigError: Unknown strategy; `semi_hard` with a pair loss; a regression loss (it needs explicit
            target distances, see `pair_loss`); a logit loss without a learned head or a distance loss
            with one; a triplet or class-proxy loss without a distance comparison; mining with a class-proxy
            loss.
    """
    check_strategy(strategy)
    if loss.input_kind == "regression":
        raise ConfigError(
            f"loss {_name(loss)} regresses target distances, which class labels do not give; "
            "train it on explicit pairs with targets (siamkit.mining.pair_loss)"
        )
    if loss.input_kind == "pairs":
        check_strategy(strategy, for_pairs=True)
        _check_pair_scores(comparison, loss)
    elif loss.input_kind == "triplets":
        check_strategy(strategy, for_triplets=True)
        _check_distance(comparison, loss)
    elif loss.input_kind == "classes":
        if strategy != "all":
            raise ConfigError(
                f"loss {_name(loss)} takes the embeddings as they are and mines nothing (it weighs pairs itself); "
                f"set training.mining to 'all' (got {strategy!r})"
            )
        _check_distance(comparison, loss)
    elif loss.input_kind == "batch":
        if strategy != "all":
            raise ConfigError(
                f"loss {_name(loss)} weighs every comparison of the batch at once and mines nothing; "
                f"set training.mining to 'all' (got {strategy!r})"
            )
        if comparison.outputs_logits:
            raise ConfigError(
                f"loss {_name(loss)} takes the similarities of a weight-free comparison, not a learned head's logits"
            )
    else:
        raise ConfigError(f"loss {_name(loss)} has an unknown input_kind {loss.input_kind!r}")


def _nothing_formed(embeddings: torch.Tensor, labels: torch.Tensor, what: str) -> torch.Tensor:
    logger.warning(
        "no %s could be formed from a batch of %d items in %d classes; its loss is zero",
        what,
        labels.shape[0],
        int(torch.unique(labels).numel()),
    )
    # Connected to the graph so that `backward()` works and every embedding gets a zero gradient.
    return embeddings.sum() * 0.0


def in_batch_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    comparison: Comparison,
    loss: SiameseLoss,
    strategy: str = "all",
    margin: float | None = None,
    chunk_size: int = 64,
) -> torch.Tensor:
    """The scalar loss of a batch of embeddings with class labels.

    Pair losses (contrastive, binary cross-entropy) score the pairs `mine_pairs` picks: distances are
    gathered from `comparison.pairwise` (one matrix product for the whole batch), a learned head's logits
    come from `comparison.forward` on the gathered pairs only. Triplet losses take the pairwise distance
    matrix and the triplets `mine_triplets` picks. Class-proxy losses (CosFace, ArcFace) take the embeddings
    and labels as they are, batch losses (supervised contrastive) the whole similarity matrix. Mining reads
    detached scores; gradients flow only through the scores of the chosen pairs/triplets.

    Args:
        embeddings: `(B, D)` embeddings of the batch, each item encoded once.
        labels: `(B,)` class labels; pairs of equal labels are "same" (1).
        comparison: Scores pairs of embeddings.
        loss: A pair or triplet loss.
        strategy: `all`, `hard`, `semi_hard` (triplet losses only) or `multi_similarity` (pair losses only);
            see `mine_pairs`, `mine_triplets`.
        margin: Semi-hard band width; defaults to the loss's `margin`, else 0.2.
        chunk_size: Anchors mined at once (memory is about `chunk_size x B x B` booleans).

    Returns:
        The loss; zero (still differentiable) with a logged warning when the batch yields no pair or
        triplet, e.g. a single item or, for triplets, a single class.

    Raises:
        ConfigError: See `check_objective`.
        DataError: `embeddings` is not `(B, D)` for `B` labels.
    """
    check_objective(comparison, loss, strategy)
    if embeddings.ndim != 2 or labels.ndim != 1 or embeddings.shape[0] != labels.shape[0]:
        raise DataError(
            f"in-batch loss needs (B, D) embeddings and (B,) labels, got {tuple(embeddings.shape)} and "
            f"{tuple(labels.shape)}"
        )
    labels = labels.to(embeddings.device)
    if loss.input_kind == "classes":
        return loss(embeddings, labels)
    if loss.input_kind == "batch":
        return loss(comparison.similarity(comparison.pairwise(embeddings, embeddings)), labels)
    if loss.input_kind == "pairs":
        return _pair_objective(embeddings, labels, comparison, loss, strategy)
    if margin is None:
        margin = float(getattr(loss, "margin", DEFAULT_SEMI_HARD_MARGIN))
    distances = comparison.pairwise(embeddings, embeddings)
    anchor, positive, negative = mine_triplets(distances, labels, strategy, margin, chunk_size)
    if anchor.numel() == 0:
        return _nothing_formed(embeddings, labels, "triplets")
    return loss(distances[anchor, positive], distances[anchor, negative])


def _pair_objective(
    embeddings: torch.Tensor, labels: torch.Tensor, comparison: Comparison, loss: SiameseLoss, strategy: str
) -> torch.Tensor:
    if comparison.outputs_logits:
        # A learned head costs a forward pass per pair, so only the mined pairs get one with gradients.
        similarity = None
        if strategy != "all":  # hard and multi-similarity mining read the batch's similarities
            with torch.no_grad():
                similarity = comparison.similarity(comparison.pairwise(embeddings, embeddings))
        first, second, pair_labels = mine_pairs(labels, similarity, strategy)
        if first.numel() == 0:
            return _nothing_formed(embeddings, labels, "pairs")
        scores = comparison(embeddings[first], embeddings[second])
    else:
        matrix = comparison.pairwise(embeddings, embeddings)
        first, second, pair_labels = mine_pairs(labels, comparison.similarity(matrix.detach()), strategy)
        if first.numel() == 0:
            return _nothing_formed(embeddings, labels, "pairs")
        scores = matrix[first, second]
    return loss(scores, pair_labels)


def pair_loss(
    first: torch.Tensor,
    second: torch.Tensor,
    labels_or_targets: torch.Tensor,
    comparison: Comparison,
    loss: SiameseLoss,
) -> torch.Tensor:
    """The loss of explicit, row-aligned embedding pairs (`first[i]` with `second[i]`).

    For data that comes as pairs rather than class labels (signature genuine/forgery pairs, half-twin
    inputs, target distances).

    Args:
        first: `(B, D)` embeddings of the first items.
        second: `(B, D)` embeddings of the second items.
        labels_or_targets: `(B,)` labels (1 = same, 0 = different) for pair losses, target distances for
            regression losses.
        comparison: Scores the pairs.
        loss: A pair or regression loss.

    Raises:
        ConfigError: A triplet or class-proxy loss, or a comparison that does not suit the loss.
        DataError: The three inputs do not have the same number of rows.
    """
    if loss.input_kind == "triplets":
        raise ConfigError(f"loss {_name(loss)} needs triplets; use siamkit.mining.triplet_loss or in_batch_loss")
    if loss.input_kind in ("classes", "batch"):
        raise ConfigError(f"loss {_name(loss)} needs class labels, not pairs; train it on labelled classes")
    if loss.input_kind == "pairs":
        _check_pair_scores(comparison, loss)
    else:
        _check_distance(comparison, loss)
    rows = {first.shape[0], second.shape[0], labels_or_targets.shape[0]}
    if len(rows) != 1 or first.ndim != 2 or second.ndim != 2:
        raise DataError(
            f"pair loss needs (B, D) first and second embeddings and (B,) labels, got {tuple(first.shape)}, "
            f"{tuple(second.shape)} and {tuple(labels_or_targets.shape)}"
        )
    return loss(comparison(first, second), labels_or_targets)


def triplet_loss(
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    comparison: Comparison,
    loss: SiameseLoss,
) -> torch.Tensor:
    """The loss of explicit, row-aligned embedding triplets.

    Raises:
        ConfigError: `loss` is not a triplet loss, or `comparison` is not a distance.
        DataError: The three inputs do not have the same shape.
    """
    if loss.input_kind != "triplets":
        raise ConfigError(f"loss {_name(loss)} takes {loss.input_kind}, not triplets; use pair_loss or in_batch_loss")
    _check_distance(comparison, loss)
    if not (anchor.shape == positive.shape == negative.shape) or anchor.ndim != 2:
        raise DataError(
            f"triplet loss needs three (B, D) embedding tensors of one shape, got {tuple(anchor.shape)}, "
            f"{tuple(positive.shape)} and {tuple(negative.shape)}"
        )
    return loss(comparison(anchor, positive), comparison(anchor, negative))
