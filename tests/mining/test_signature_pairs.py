"""Signature pair rules: only genuine pairs of a writer are "same"; forgeries are their writer's negatives."""

from __future__ import annotations

import torch

from siamkit.comparisons import ComparisonConfig, create_comparison
from siamkit.losses import create_loss
from siamkit.mining.signature_pairs import (
    forgery_pair_exclusions,
    signature_in_batch_loss,
    signature_pairs_in_batch,
)

# Writer 0: genuine 0, 1, forgeries 2, 3. Writer 1: genuine 4, 5, forgery 6.
WRITERS = torch.tensor([0, 0, 0, 0, 1, 1, 1])
GENUINE = torch.tensor([True, True, False, False, True, True, False])


def hand_pairs() -> dict[tuple[int, int], int]:
    """The rules written out pair by pair."""
    pairs = {}
    for first in range(7):
        for second in range(first + 1, 7):
            same_writer = WRITERS[first] == WRITERS[second]
            both_forgeries = not GENUINE[first] and not GENUINE[second]
            if same_writer and both_forgeries:
                continue
            pairs[(first, second)] = int(bool(same_writer and GENUINE[first] and GENUINE[second]))
    return pairs


def test_all_pairs_follow_the_rules() -> None:
    first, second, labels = signature_pairs_in_batch(WRITERS, GENUINE)
    found = {(int(a), int(b)): int(label) for a, b, label in zip(first, second, labels, strict=True)}
    assert found == hand_pairs()
    assert (2, 3) not in found  # two forgeries of writer 0: left out
    assert found[(0, 2)] == 0 and found[(1, 3)] == 0  # genuine vs its forgeries: hard negatives
    assert found[(2, 6)] == 0  # forgeries of different writers: different
    assert sum(found.values()) == 2  # (0, 1) and (4, 5) only


def test_exclusions_by_hand() -> None:
    excluded = forgery_pair_exclusions(WRITERS, GENUINE)
    assert torch.nonzero(excluded).tolist() == [[2, 3], [3, 2]]


def test_hard_mining_keeps_positives_and_the_most_alike_negatives_never_an_excluded_pair() -> None:
    similarity = torch.zeros(7, 7)
    similarity[2, 3] = similarity[3, 2] = 10.0  # excluded, however alike
    similarity[0, 2] = similarity[2, 0] = 5.0
    similarity[4, 6] = similarity[6, 4] = 4.0
    first, second, labels = signature_pairs_in_batch(WRITERS, GENUINE, similarity, strategy="hard")
    found = {(int(a), int(b)): int(label) for a, b, label in zip(first, second, labels, strict=True)}
    assert found == {(0, 1): 1, (4, 5): 1, (0, 2): 0, (4, 6): 0}


def test_multi_similarity_mining_keeps_confused_pairs_never_an_excluded_one() -> None:
    similarity = torch.zeros(7, 7)
    similarity[0, 1] = similarity[1, 0] = 0.9  # writer 0's genuine pair, well apart from everything else
    similarity[4, 5] = similarity[5, 4] = 0.3  # writer 1's genuine pair, as alike as its forgery below
    similarity[4, 6] = similarity[6, 4] = 0.35
    similarity[2, 3] = similarity[3, 2] = 10.0  # excluded, however alike
    first, second, labels = signature_pairs_in_batch(WRITERS, GENUINE, similarity, strategy="multi_similarity")
    found = {(int(a), int(b)): int(label) for a, b, label in zip(first, second, labels, strict=True)}
    assert (2, 3) not in found
    assert found[(4, 6)] == 0 and found[(4, 5)] == 1  # the confused writer's pairs
    assert (0, 1) not in found and (0, 2) not in found  # the separated writer's pairs are easy


def test_contrastive_loss_matches_a_hand_computation() -> None:
    embeddings = torch.randn(7, 3)
    comparison = create_comparison(ComparisonConfig("euclidean"), 3)
    loss_function = create_loss("contrastive", margin=1.0)
    value = signature_in_batch_loss(embeddings, WRITERS, GENUINE, comparison, loss_function)
    terms = []
    for (first, second), label in hand_pairs().items():
        distance = float(torch.linalg.vector_norm(embeddings[first] - embeddings[second]))
        terms.append(distance**2 if label else max(0.0, 1.0 - distance) ** 2)
    assert torch.isclose(value, torch.tensor(0.5 * sum(terms) / len(terms)), atol=1e-5)


def test_triplet_loss_uses_genuine_anchors_only() -> None:
    embeddings = torch.randn(7, 3, requires_grad=True)
    comparison = create_comparison(ComparisonConfig("euclidean"), 3)
    value = signature_in_batch_loss(embeddings, WRITERS, GENUINE, comparison, create_loss("triplet", margin=0.5))
    value.backward()
    assert embeddings.grad is not None and torch.isfinite(value)
