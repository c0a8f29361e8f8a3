"""`mine_pairs` against a hand-written loop."""

from __future__ import annotations

import pytest
import torch

from siamkit.errors import ConfigError, DataError
from siamkit.mining import MINING_STRATEGIES, mine_pairs

LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def random_similarity(size: int) -> torch.Tensor:
    values = torch.randn(size, size, dtype=torch.float64)
    return values + values.T


def test_strategies_are_the_documented_four() -> None:
    assert MINING_STRATEGIES == ("all", "hard", "semi_hard", "multi_similarity")


def test_all_gives_every_upper_triangle_pair_with_its_label(reference_pairs, rows) -> None:
    first, second, labels = mine_pairs(LABELS, strategy="all")
    assert rows(first, second, labels) == reference_pairs(LABELS.tolist(), None, "all")
    assert len(first) == 8 * 7 // 2
    assert first.dtype == second.dtype == labels.dtype == torch.long


def test_all_ignores_similarity(rows) -> None:
    without = rows(*mine_pairs(LABELS, strategy="all"))
    assert rows(*mine_pairs(LABELS, random_similarity(8), strategy="all")) == without


@pytest.mark.parametrize("seed", range(5))
def test_hard_keeps_all_positives_and_as_many_most_similar_negatives(seed, reference_pairs, rows) -> None:
    torch.manual_seed(seed)
    similarity = random_similarity(8)
    mined = rows(*mine_pairs(LABELS, similarity, strategy="hard"))
    assert mined == reference_pairs(LABELS.tolist(), similarity.tolist(), "hard")
    positives = [pair for pair in mined if pair[2] == 1]
    negatives = [pair for pair in mined if pair[2] == 0]
    assert len(positives) == 3 + 3 + 1  # classes of sizes 3, 3 and 2
    assert len(negatives) == len(positives)
    # Every negative left out is no more similar than the least similar one kept.
    kept = {(i, j) for i, j, _ in negatives}
    least_kept = min(float(similarity[i, j]) for i, j in kept)
    for i in range(8):
        for j in range(i + 1, 8):
            if LABELS[i] != LABELS[j] and (i, j) not in kept:
                assert float(similarity[i, j]) <= least_kept


def test_hard_breaks_ties_towards_earlier_pairs(reference_pairs, rows) -> None:
    similarity = torch.zeros(8, 8)
    mined = rows(*mine_pairs(LABELS, similarity, strategy="hard"))
    assert mined == reference_pairs(LABELS.tolist(), similarity.tolist(), "hard")


def test_hard_on_a_batch_of_distinct_classes_keeps_the_single_most_similar_negative(rows) -> None:
    labels = torch.tensor([3, 1, 4, 5])
    similarity = torch.zeros(4, 4)
    similarity[1, 3] = similarity[3, 1] = 5.0
    assert rows(*mine_pairs(labels, similarity, strategy="hard")) == [(1, 3, 0)]


def test_hard_on_one_class_keeps_only_positives(rows) -> None:
    labels = torch.zeros(4, dtype=torch.long)
    mined = rows(*mine_pairs(labels, random_similarity(4), strategy="hard"))
    assert mined == [(i, j, 1) for i in range(4) for j in range(i + 1, 4)]


def test_one_item_gives_no_pairs() -> None:
    first, second, labels = mine_pairs(torch.tensor([7]), strategy="all")
    assert first.numel() == second.numel() == labels.numel() == 0


@pytest.mark.parametrize("seed", range(5))
def test_multi_similarity_keeps_the_pairs_either_end_finds_hard(seed, reference_pairs, rows) -> None:
    torch.manual_seed(seed)
    similarity = random_similarity(8) * 0.3
    mined = rows(*mine_pairs(LABELS, similarity, strategy="multi_similarity"))
    assert mined == reference_pairs(LABELS.tolist(), similarity.tolist(), "multi_similarity")
    assert 0 < len(mined) < 8 * 7 // 2  # random scores: some pairs are hard, not all


def test_multi_similarity_drops_every_pair_of_a_well_separated_batch(rows) -> None:
    same = (LABELS[:, None] == LABELS[None, :]).double()
    separated = same * 0.9 - (1 - same) * 0.9  # every positive at 0.9, every negative at -0.9
    assert rows(*mine_pairs(LABELS, separated, strategy="multi_similarity")) == []
    # One negative pair as alike as the positives: it is kept, and so are its ends' positives within 0.1 of it.
    confused = separated.clone()
    confused[0, 1] = confused[1, 0] = 0.85
    first, second, labels = mine_pairs(LABELS, confused, strategy="multi_similarity")
    kept = set(zip(first.tolist(), second.tolist(), labels.tolist(), strict=True))
    assert (0, 1, 0) in kept
    assert {(0, 3, 1), (0, 6, 1), (1, 4, 1), (1, 7, 1)} <= kept
    assert all(0 in pair[:2] or 1 in pair[:2] for pair in kept)


@pytest.mark.parametrize("strategy", ["hard", "multi_similarity"])
def test_hard_strategies_need_similarity(strategy: str) -> None:
    with pytest.raises(ConfigError, match="similarity"):
        mine_pairs(LABELS, strategy=strategy)


def test_semi_hard_is_refused_for_pairs() -> None:
    with pytest.raises(ConfigError, match="triplet"):
        mine_pairs(LABELS, random_similarity(8), strategy="semi_hard")


def test_unknown_strategy() -> None:
    with pytest.raises(ConfigError, match="mining strategy"):
        mine_pairs(LABELS, strategy="hardest")


def test_bad_shapes() -> None:
    with pytest.raises(DataError, match="labels"):
        mine_pairs(LABELS[None], strategy="all")
    with pytest.raises(DataError, match="similarity"):
        mine_pairs(LABELS, random_similarity(7), strategy="hard")
