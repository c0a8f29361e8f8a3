"""Evaluating embeddings of a labelled, held-out set: verification on a pair protocol plus one-shot episodes.

Shared by validation during training and by `siamkit evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from siamkit.comparisons import Comparison
from siamkit.evaluation.episodes import EpisodeConfig, EpisodeResult, evaluate_episodes
from siamkit.evaluation.pairs import all_same_pairs_and_sampled_different
from siamkit.evaluation.verification import VerificationMetrics, verification_metrics


@dataclass
class EmbeddingEvaluation:
    """Verification metrics over the pair protocol, optional one-shot accuracy, and the pairs used.

    Attributes:
        metrics: ROC AUC, EER, FAR/FRR, TAR at FAR, ... on the pairs.
        one_shot: N-way one-shot episodes on the same embeddings (None when not asked or impossible).
        first: First item of each evaluated pair (row indices into the evaluated set).
        second: Second item of each pair.
        pair_labels: 1 = same, 0 = different.
        similarities: The comparison's similarity of each pair (larger = more alike).
        scores: The comparison's user-facing score of each pair.
    """

    metrics: VerificationMetrics
    one_shot: EpisodeResult | None
    first: np.ndarray
    second: np.ndarray
    pair_labels: np.ndarray
    similarities: np.ndarray
    scores: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        data = self.metrics.to_dict()
        if self.one_shot is not None:
            data["one_shot"] = self.one_shot.to_dict()
        return data


@torch.no_grad()
def pair_similarities(
    embeddings: torch.Tensor, first: np.ndarray, second: np.ndarray, comparison: Comparison, chunk: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, scores) of the listed pairs, computed in chunks to bound memory."""
    similarities, scores = [], []
    first_tensor, second_tensor = torch.as_tensor(first), torch.as_tensor(second)
    device = next(iter(comparison.parameters()), embeddings).device
    for start in range(0, len(first), chunk):
        rows_first = embeddings[first_tensor[start : start + chunk]].to(device)
        rows_second = embeddings[second_tensor[start : start + chunk]].to(device)
        raw = comparison(rows_first, rows_second)
        similarities.append(comparison.similarity(raw).float().cpu().numpy())
        scores.append(comparison.to_score(raw).float().cpu().numpy())
    return np.concatenate(similarities), np.concatenate(scores)


def evaluate_embeddings(
    embeddings: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    comparison: Comparison,
    pair_seed: int = 0,
    n_different: int | None = None,
    episodes: EpisodeConfig | None = None,
) -> EmbeddingEvaluation:
    """Scores all same-class pairs against a fixed-seed sample of different-class pairs, and runs episodes.

    Args:
        embeddings: `(N, D)` embeddings of a held-out set.
        labels: Class of each row.
        comparison: The model's comparison.
        pair_seed: Seed of the different-pair sample (fixed, so evaluations repeat exactly).
        n_different: Different pairs to sample (default: as many as same pairs).
        episodes: One-shot episode settings; None skips them.
    """
    label_array = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    first, second, pair_labels = all_same_pairs_and_sampled_different(label_array, n_different, seed=pair_seed)
    similarities, scores = pair_similarities(embeddings, first, second, comparison)
    metrics = verification_metrics(similarities, pair_labels)
    one_shot = None
    if episodes is not None:
        one_shot = evaluate_episodes(embeddings, torch.as_tensor(label_array), comparison, episodes)
    return EmbeddingEvaluation(metrics, one_shot, first, second, pair_labels, similarities, scores)
