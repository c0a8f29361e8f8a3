"""`mine_triplets` against a hand-written loop."""

from __future__ import annotations

import pytest
import torch

from siamkit.errors import ConfigError, DataError
from siamkit.mining import mine_triplets

LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def distance_matrix(count: int, dimensions: int = 2) -> torch.Tensor:
    points = torch.randn(count, dimensions, dtype=torch.float64)
    return torch.cdist(points, points)


@pytest.mark.parametrize("strategy", ["all", "hard", "semi_hard"])
@pytest.mark.parametrize("seed", range(4))
def test_matches_the_loop(strategy, seed, reference_triplets, rows) -> None:
    torch.manual_seed(seed)
    distances = distance_matrix(8)
    mined = rows(*mine_triplets(distances, LABELS, strategy, margin=0.5))
    assert mined == reference_triplets(distances.tolist(), LABELS.tolist(), strategy, 0.5)


@pytest.mark.parametrize("strategy", ["all", "hard", "semi_hard"])
def test_matches_the_loop_on_a_larger_batch(strategy, reference_triplets, rows) -> None:
    labels = torch.randint(0, 5, (30,))
    distances = distance_matrix(30, dimensions=3)
    mined = rows(*mine_triplets(distances, labels, strategy, margin=0.3, chunk_size=7))
    assert mined == reference_triplets(distances.tolist(), labels.tolist(), strategy, 0.3)


def test_all_counts_every_valid_triplet() -> None:
    anchor, positive, negative = mine_triplets(distance_matrix(8), LABELS, "all")
    # Classes of sizes 3, 3, 2: ordered anchor-positive pairs times negatives of the anchor's class.
    assert len(anchor) == 3 * 2 * 5 + 3 * 2 * 5 + 2 * 1 * 6
    assert bool((LABELS[anchor] == LABELS[positive]).all())
    assert bool((LABELS[anchor] != LABELS[negative]).all())
    assert bool((anchor != positive).all())


def test_semi_hard_exercises_both_the_band_and_the_fallback(reference_triplets) -> None:
    """Guards the loop comparison above: the data must contain both cases for it to mean anything."""
    torch.manual_seed(0)
    distances = distance_matrix(8)
    semi_hard = reference_triplets(distances.tolist(), LABELS.tolist(), "semi_hard", 0.5)
    hard = reference_triplets(distances.tolist(), LABELS.tolist(), "hard", 0.5)
    in_band = [(a, p, n) for a, p, n in semi_hard if distances[a, p] < distances[a, n] < distances[a, p] + 0.5]
    assert in_band, "no anchor-positive pair has a semi-hard negative"
    assert len(in_band) < len(semi_hard), "every anchor-positive pair has a semi-hard negative"
    assert semi_hard != hard
    mined = mine_triplets(distances, LABELS, "semi_hard", margin=0.5)
    for a, p, n in zip(*mined, strict=True):
        if (int(a), int(p), int(n)) not in in_band:
            negatives = distances[a][LABELS[a] != LABELS]
            assert distances[a, n] == negatives.min()


def test_semi_hard_with_zero_margin_is_hard(rows) -> None:
    distances = distance_matrix(8)
    assert rows(*mine_triplets(distances, LABELS, "semi_hard", margin=0.0)) == rows(
        *mine_triplets(distances, LABELS, "hard")
    )


@pytest.mark.parametrize("strategy", ["all", "hard", "semi_hard"])
def test_chunk_size_does_not_change_the_result(strategy) -> None:
    labels = torch.randint(0, 4, (21,))
    distances = distance_matrix(21)
    expected = mine_triplets(distances, labels, strategy, chunk_size=64)
    for chunk_size in (1, 2, 5, 21):
        for got, want in zip(mine_triplets(distances, labels, strategy, chunk_size=chunk_size), expected, strict=True):
            assert torch.equal(got, want)


def test_hard_breaks_ties_towards_the_lowest_index(reference_triplets, rows) -> None:
    distances = torch.ones(8, 8) - torch.eye(8)
    assert rows(*mine_triplets(distances, LABELS, "hard")) == reference_triplets(
        distances.tolist(), LABELS.tolist(), "hard", 0.2
    )


@pytest.mark.parametrize("strategy", ["all", "hard", "semi_hard"])
@pytest.mark.parametrize("labels", [[4, 4, 4, 4], [0, 1, 2, 3], [5]])
def test_no_triplets_without_a_positive_and_a_negative(strategy, labels) -> None:
    labels_tensor = torch.tensor(labels)
    anchor, positive, negative = mine_triplets(distance_matrix(len(labels)), labels_tensor, strategy)
    assert anchor.numel() == positive.numel() == negative.numel() == 0
    assert anchor.dtype == torch.long


def test_distances_are_not_differentiated() -> None:
    distances = distance_matrix(8).requires_grad_()
    anchor, _, _ = mine_triplets(distances, LABELS, "semi_hard")
    assert not anchor.requires_grad


def test_bad_arguments() -> None:
    distances = distance_matrix(8)
    with pytest.raises(ConfigError, match="chunk_size"):
        mine_triplets(distances, LABELS, "all", chunk_size=0)
    with pytest.raises(ConfigError, match="mining strategy"):
        mine_triplets(distances, LABELS, "random")
    with pytest.raises(ConfigError, match="keeps pairs"):
        mine_triplets(distances, LABELS, "multi_similarity")
    with pytest.raises(DataError, match="distances"):
        mine_triplets(distances[:, :5], LABELS, "all")
    with pytest.raises(DataError, match="labels"):
        mine_triplets(distances, LABELS.reshape(2, 4), "all")
