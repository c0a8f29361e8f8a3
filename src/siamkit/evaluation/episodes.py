"""N-way K-shot episode evaluation on held-out classes, the standard few-shot benchmark.

Each episode draws `ways` classes, `shots` support examples and `queries_per_class` queries per class.
Every query is scored against every support example; a class's score for a query is the *mean
similarity over that class's shots*, and the query is assigned to the best-scoring class. Mean
similarity (rather than comparing with a prototype, the mean embedding) works for every comparison,
learned heads included, and equals one-shot matching when `shots == 1`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from siamkit.comparisons.base import Comparison
from siamkit.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

# Random keys drawn per block of episodes when sampling, and embedding values gathered per block when
# scoring: they bound memory (about 8 and 16 MB) without making blocks so small that overhead dominates.
_DRAW_BUDGET = 1 << 20
_SCORE_BUDGET = 1 << 22


@dataclass
class EpisodeConfig:
    """How episodes are drawn.

    Attributes:
        ways: Classes per episode (N).
        shots: Support examples per class (K).
        queries_per_class: Query examples per class.
        episodes: Number of episodes.
        seed: Seed of the episode sampler; the same seed and data give the same episodes.
    """

    ways: int = 5
    shots: int = 1
    queries_per_class: int = 1
    episodes: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ways < 2:
            raise ConfigError(f"episodes: ways must be at least 2, got {self.ways}")
        for name in ("shots", "queries_per_class", "episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"episodes: {name} must be at least 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ways": self.ways,
            "shots": self.shots,
            "queries_per_class": self.queries_per_class,
            "episodes": self.episodes,
            "seed": self.seed,
        }


@dataclass
class EpisodeResult:
    """Outcome of an episode evaluation.

    Attributes:
        accuracy: Share of all queries, over all episodes, assigned to their true class.
        confidence_interval_95: Half-width of the 95% confidence interval of the mean per-episode accuracy
            (1.96 x standard deviation / sqrt(episodes)), so results read "accuracy ± interval". NaN for one
            episode, where it is undefined.
        episodes: Number of episodes run.
        ways: Classes per episode.
        shots: Support examples per class.
        queries_per_class: Queries per class per episode.
        classes_available: Classes with enough examples that episodes could draw from.
    """

    accuracy: float
    confidence_interval_95: float
    episodes: int
    ways: int
    shots: int
    queries_per_class: int = 1
    classes_available: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (an undefined interval becomes None)."""
        return {
            "accuracy": self.accuracy,
            "confidence_interval_95": None if math.isnan(self.confidence_interval_95) else self.confidence_interval_95,
            "episodes": self.episodes,
            "ways": self.ways,
            "shots": self.shots,
            "queries_per_class": self.queries_per_class,
            "classes_available": self.classes_available,
        }


def _eligible_classes(labels: np.ndarray, needed: int, ways: int) -> list[np.ndarray]:
    """Member indices of each class with at least `needed` examples; DataError when fewer than `ways`."""
    classes, class_ids = np.unique(labels, return_inverse=True)
    members = [np.flatnonzero(class_ids == index) for index in range(classes.shape[0])]
    eligible = [indices for indices in members if indices.shape[0] >= needed]
    excluded = len(members) - len(eligible)
    if excluded:
        logger.info(
            "episodes: %d of %d classes have fewer than %d examples and are left out", excluded, len(members), needed
        )
    if len(eligible) < ways:
        raise DataError(
            f"episodes need {ways} classes with at least {needed} examples each (shots + queries), "
            f"but only {len(eligible)} of {len(members)} classes have that many"
        )
    return eligible


def draw_episodes(eligible: list[np.ndarray], config: EpisodeConfig) -> np.ndarray:
    """Example indices of every episode, `(episodes, ways, shots + queries_per_class)`.

    Row `[e, w]` holds distinct examples of episode `e`'s `w`-th class: its first `shots` are the support
    set, the rest the queries. Classes and examples are uniform random draws without replacement, made
    with numpy in blocks of episodes (random keys, sorted) rather than one call per class and episode.
    """
    ways, needed = config.ways, config.shots + config.queries_per_class
    counts = np.array([indices.shape[0] for indices in eligible])
    padded = np.full((len(eligible), int(counts.max())), -1, dtype=np.int64)
    for row, indices in enumerate(eligible):
        padded[row, : indices.shape[0]] = indices
    rng = np.random.default_rng(config.seed)
    block = max(1, min(256, _DRAW_BUDGET // (ways * padded.shape[1] + len(eligible))))
    blocks = []
    for start in range(0, config.episodes, block):
        size = min(block, config.episodes - start)
        chosen = np.argsort(rng.random((size, len(eligible))), axis=1)[:, :ways]
        member_keys = rng.random((size, ways, padded.shape[1]))
        member_keys[np.arange(padded.shape[1]) >= counts[chosen][..., None]] = np.inf  # padding never drawn
        order = np.argsort(member_keys, axis=2)[..., :needed]
        blocks.append(padded[chosen[..., None], order])
    return np.concatenate(blocks)


def _episode_accuracies(embeddings: torch.Tensor, drawn: np.ndarray, comparison: Comparison, shots: int) -> np.ndarray:
    """Share of queries classified correctly in each episode of `drawn` (see `draw_episodes`)."""
    episodes, ways, needed = drawn.shape
    queries = needed - shots
    indices = torch.from_numpy(drawn).to(embeddings.device)
    support = indices[:, :, :shots].reshape(episodes, ways * shots)
    query = indices[:, :, shots:].reshape(episodes, ways * queries)
    # Query row w * queries + q belongs to episode class w.
    truth = torch.arange(ways, device=embeddings.device).repeat_interleave(queries)
    pairs_per_episode = ways * queries * ways * shots
    block = max(1, _SCORE_BUDGET // (pairs_per_episode * embeddings.shape[1]))
    accuracies = []
    for start in range(0, episodes, block):
        query_rows = embeddings[query[start : start + block]]  # (E, ways*queries, D)
        support_rows = embeddings[support[start : start + block]]  # (E, ways*shots, D)
        size = query_rows.shape[0]
        first = query_rows[:, :, None, :].expand(-1, -1, ways * shots, -1).reshape(-1, embeddings.shape[1])
        second = support_rows[:, None, :, :].expand(-1, ways * queries, -1, -1).reshape(-1, embeddings.shape[1])
        similarity = comparison.similarity(comparison(first, second)).float()
        class_scores = similarity.reshape(size, ways * queries, ways, shots).mean(dim=3)
        correct = class_scores.argmax(dim=2) == truth
        accuracies.append(correct.double().mean(dim=1).cpu())
    return torch.cat(accuracies).numpy()


@torch.no_grad()
def evaluate_episodes(
    embeddings: torch.Tensor, labels: torch.Tensor, comparison: Comparison, config: EpisodeConfig
) -> EpisodeResult:
    """Runs N-way K-shot episodes on precomputed embeddings.

    Episodes are drawn by `draw_episodes` and scored in blocks: every query-support pair of a block of
    episodes goes through the comparison in one call.

    Args:
        embeddings: `(N, D)` embeddings of held-out examples.
        labels: `(N,)` class of each example.
        comparison: Scores query/support pairs; its `similarity` ranks classes. It is put in eval mode for
            the run and restored afterwards.
        config: Episode shape, count and seed.

    Returns:
        Accuracy and its 95% confidence interval.

    Raises:
        DataError: When shapes disagree, or fewer than `ways` classes have `shots + queries_per_class`
            examples (classes with too few examples are left out first).
    """
    if embeddings.ndim != 2:
        raise DataError(f"embeddings must have shape (N, D), got {tuple(embeddings.shape)}")
    label_array = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    if label_array.shape[0] != embeddings.shape[0]:
        raise DataError(f"embeddings and labels differ in length: {embeddings.shape[0]} vs {label_array.shape[0]}")
    eligible = _eligible_classes(label_array, config.shots + config.queries_per_class, config.ways)
    drawn = draw_episodes(eligible, config)
    was_training = comparison.training
    comparison.eval()
    try:
        accuracies = _episode_accuracies(embeddings, drawn, comparison, config.shots)
    finally:
        comparison.train(was_training)

    # Every episode has the same number of queries, so the mean of episode accuracies is the query accuracy.
    accuracy = float(accuracies.mean())
    interval = (
        float(1.96 * accuracies.std(ddof=1) / math.sqrt(config.episodes)) if config.episodes > 1 else float("nan")
    )
    logger.info(
        "%d-way %d-shot over %d episodes: accuracy %.4f ± %.4f",
        config.ways,
        config.shots,
        config.episodes,
        accuracy,
        interval,
    )
    return EpisodeResult(
        accuracy=accuracy,
        confidence_interval_95=interval,
        episodes=config.episodes,
        ways=config.ways,
        shots=config.shots,
        queries_per_class=config.queries_per_class,
        classes_available=len(eligible),
    )
