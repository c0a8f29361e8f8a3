"""N-way K-shot episodes: accuracy on separable and random embeddings, the K-shot rule, determinism, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from siamkit.comparisons import CosineDistance, EuclideanDistance, LearnedHead
from siamkit.errors import ConfigError, DataError
from siamkit.evaluation.episodes import EpisodeConfig, draw_episodes, evaluate_episodes


def separable_embeddings(classes: int, per_class: int, dim: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c sits near 10 * e_c, with noise far smaller than the gap between classes."""
    labels = torch.arange(classes).repeat_interleave(per_class)
    embeddings = 10.0 * torch.eye(dim)[labels] + 0.1 * torch.randn(classes * per_class, dim)
    return embeddings, labels


@pytest.mark.parametrize("comparison", [EuclideanDistance(), CosineDistance()])
@pytest.mark.parametrize("shots", [1, 3])
def test_separable_embeddings_score_perfectly(comparison: torch.nn.Module, shots: int) -> None:
    embeddings, labels = separable_embeddings(classes=8, per_class=6)
    config = EpisodeConfig(ways=5, shots=shots, queries_per_class=2, episodes=50)
    result = evaluate_episodes(embeddings, labels, comparison, config)  # type: ignore[arg-type]
    assert result.accuracy == 1.0
    assert result.confidence_interval_95 == 0.0
    assert (result.episodes, result.ways, result.shots, result.classes_available) == (50, 5, shots, 8)


def test_random_embeddings_score_near_chance() -> None:
    generator = torch.Generator().manual_seed(1)
    embeddings = torch.randn(200, 8, generator=generator)
    labels = torch.arange(20).repeat_interleave(10)
    config = EpisodeConfig(ways=5, shots=1, queries_per_class=5, episodes=1000, seed=3)
    result = evaluate_episodes(embeddings, labels, EuclideanDistance(), config)
    assert result.accuracy == pytest.approx(1 / 5, abs=0.03)
    # Per-episode accuracies vary, so the interval is positive and shrinks like 1/sqrt(episodes).
    assert 0.0 < result.confidence_interval_95 < 0.03


def test_several_shots_are_scored_by_mean_similarity_not_nearest_neighbour() -> None:
    # 1-D points. Class A = {0, 0, 0}; class B = {1, 1, 100}; 2-way 2-shot, one query per class.
    # A queries are always right. A B query at 1 (chance 2/3) has shots {1, 100}: mean distance 49.5 > 1 to A,
    # so it goes to A (nearest neighbour would say B); a B query at 100 has shots {1, 1}: 99 < 100, right.
    # Expected accuracy: (1 + 1/3) / 2 = 2/3.
    embeddings = torch.tensor([[0.0], [0.0], [0.0], [1.0], [1.0], [100.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    config = EpisodeConfig(ways=2, shots=2, queries_per_class=1, episodes=2000, seed=0)
    result = evaluate_episodes(embeddings, labels, EuclideanDistance(), config)
    assert result.accuracy == pytest.approx(2 / 3, abs=0.03)


def test_same_seed_gives_same_episodes_and_other_seed_differs() -> None:
    embeddings = torch.randn(120, 8)
    labels = torch.arange(12).repeat_interleave(10)
    config = EpisodeConfig(ways=5, shots=1, queries_per_class=1, episodes=200, seed=11)
    first = evaluate_episodes(embeddings, labels, EuclideanDistance(), config)
    second = evaluate_episodes(embeddings, labels, EuclideanDistance(), config)
    other = evaluate_episodes(embeddings, labels, EuclideanDistance(), EpisodeConfig(episodes=200, seed=12))
    assert first == second
    assert other.accuracy != first.accuracy


def test_learned_head_runs_and_its_training_mode_is_restored() -> None:
    embeddings, labels = separable_embeddings(classes=6, per_class=4, dim=8)
    head = LearnedHead(embedding_dim=8, hidden_dims=(16,))
    head.train()
    result = evaluate_episodes(embeddings, labels, head, EpisodeConfig(ways=3, shots=2, episodes=20))
    assert 0.0 <= result.accuracy <= 1.0
    assert head.training


def test_classes_with_too_few_examples_are_left_out() -> None:
    embeddings, labels = separable_embeddings(classes=6, per_class=3)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[labels == 5] = False
    keep[(labels == 5).nonzero()[0]] = True  # class 5 keeps a single example
    result = evaluate_episodes(
        embeddings[keep], labels[keep], EuclideanDistance(), EpisodeConfig(ways=5, shots=2, episodes=10)
    )
    assert result.classes_available == 5
    assert result.accuracy == 1.0


def test_too_few_usable_classes_raise_data_error() -> None:
    embeddings, labels = separable_embeddings(classes=5, per_class=3)
    with pytest.raises(DataError, match="need 6 classes"):
        evaluate_episodes(embeddings, labels, EuclideanDistance(), EpisodeConfig(ways=6))
    with pytest.raises(DataError, match="only 0 of 5 classes"):
        evaluate_episodes(embeddings, labels, EuclideanDistance(), EpisodeConfig(ways=5, shots=3))


def test_mismatched_shapes_raise_data_error() -> None:
    embeddings, labels = separable_embeddings(classes=5, per_class=3)
    with pytest.raises(DataError, match="differ in length"):
        evaluate_episodes(embeddings, labels[:-1], EuclideanDistance(), EpisodeConfig())
    with pytest.raises(DataError, match="shape \\(N, D\\)"):
        evaluate_episodes(embeddings[0], labels, EuclideanDistance(), EpisodeConfig())


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"ways": 1}, "ways"),
        ({"shots": 0}, "shots"),
        ({"queries_per_class": 0}, "queries"),
        ({"episodes": 0}, "episodes"),
    ],
)
def test_bad_episode_config_raises_config_error(options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        EpisodeConfig(**options)


def test_single_episode_has_undefined_interval_reported_as_none() -> None:
    embeddings, labels = separable_embeddings(classes=5, per_class=2)
    result = evaluate_episodes(embeddings, labels, EuclideanDistance(), EpisodeConfig(episodes=1))
    assert math.isnan(result.confidence_interval_95)
    assert result.to_dict()["confidence_interval_95"] is None


def test_drawn_episodes_have_distinct_classes_and_distinct_examples_of_each() -> None:
    labels = torch.tensor([0] * 3 + [1] * 7 + [2] * 4 + [3] * 5 + [4] * 3)
    eligible = [torch.nonzero(labels == value).flatten().numpy() for value in range(5)]
    config = EpisodeConfig(ways=4, shots=2, queries_per_class=1, episodes=300, seed=5)
    drawn = draw_episodes(eligible, config)
    assert drawn.shape == (300, 4, 3)
    episode_classes = labels.numpy()[drawn]  # (episodes, ways, examples)
    assert (episode_classes == episode_classes[:, :, :1]).all(), "an episode row mixes classes"
    assert all(len(set(row)) == 4 for row in episode_classes[:, :, 0].tolist())
    assert all(len(set(examples)) == 3 for episode in drawn.tolist() for examples in episode)
    # Every class and every example of the large class turn up, and class order within episodes varies.
    assert set(episode_classes[:, :, 0].flatten().tolist()) == set(range(5))
    assert set(drawn[episode_classes == 1].tolist()) == set(eligible[1].tolist())
    assert len({tuple(row) for row in episode_classes[:, :, 0].tolist()}) > 20
    np.testing.assert_array_equal(drawn, draw_episodes(eligible, config))
