"""Hand-written loop references for mining, shared by the mining tests as fixtures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

PairList = list[tuple[int, int, int]]
TripletList = list[tuple[int, int, int]]


def loop_pairs(labels: list[int], similarity: list[list[float]] | None, strategy: str) -> PairList:
    """(i, j, same) for i < j, by the definition in `mine_pairs`' docstring."""
    count = len(labels)
    pairs = [(i, j, int(labels[i] == labels[j])) for i in range(count) for j in range(i + 1, count)]
    if strategy == "all":
        return pairs
    assert similarity is not None
    if strategy == "multi_similarity":
        return [pair for pair in pairs if _multi_similarity_keeps(labels, similarity, *pair)]
    positives = [pair for pair in pairs if pair[2] == 1]
    negatives = [pair for pair in pairs if pair[2] == 0]
    wanted = min(len(negatives), max(len(positives), 1))
    # Python's sort is stable, so equal similarities keep upper-triangle order.
    hardest = sorted(negatives, key=lambda pair: -similarity[pair[0]][pair[1]])[:wanted]
    return sorted(positives + hardest)


def _multi_similarity_keeps(labels: list[int], similarity: list[list[float]], i: int, j: int, same: int) -> bool:
    """Whether either end keeps pair (i, j): an anchor keeps a negative more alike than its least alike positive
    minus 0.1, and a positive less alike than its most alike negative plus 0.1."""
    for anchor, other in ((i, j), (j, i)):
        row = similarity[anchor]
        positives = [row[k] for k in range(len(labels)) if k != anchor and labels[k] == labels[anchor]]
        negatives = [row[k] for k in range(len(labels)) if labels[k] != labels[anchor]]
        if same and negatives and row[other] - 0.1 < max(negatives):
            return True
        if not same and positives and row[other] + 0.1 > min(positives):
            return True
    return False


def loop_triplets(distances: list[list[float]], labels: list[int], strategy: str, margin: float) -> TripletList:
    """(a, p, n) by the definition in `mine_triplets`' docstring, in anchor, positive, negative order."""
    count = len(labels)
    triplets = []
    for anchor in range(count):
        negatives = [n for n in range(count) if labels[n] != labels[anchor]]
        if not negatives:
            continue
        hardest = min(negatives, key=lambda n: (distances[anchor][n], n))
        for positive in range(count):
            if positive == anchor or labels[positive] != labels[anchor]:
                continue
            positive_distance = distances[anchor][positive]
            if strategy == "all":
                triplets += [(anchor, positive, n) for n in negatives]
            elif strategy == "hard":
                triplets.append((anchor, positive, hardest))
            else:
                band = [n for n in negatives if positive_distance < distances[anchor][n] < positive_distance + margin]
                chosen = min(band, key=lambda n: (distances[anchor][n], n)) if band else hardest
                triplets.append((anchor, positive, chosen))
    return triplets


def as_tuples(*columns: torch.Tensor) -> list[tuple[int, ...]]:
    """Index tensors as a list of row tuples."""
    return [tuple(int(value) for value in row) for row in zip(*columns, strict=True)]


@pytest.fixture
def reference_pairs() -> Callable[[list[int], list[list[float]] | None, str], PairList]:
    return loop_pairs


@pytest.fixture
def reference_triplets() -> Callable[[list[list[float]], list[int], str, float], TripletList]:
    return loop_triplets


@pytest.fixture
def rows() -> Callable[..., list[tuple[int, ...]]]:
    return as_tuples
