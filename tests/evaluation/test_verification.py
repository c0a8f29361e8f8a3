"""Verification metrics against hand-computed values on tiny inputs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from siamkit.errors import DataError
from siamkit.evaluation.verification import verification_metrics

# Hand-worked example. Sorted by similarity: 0.9 S, 0.8 D, 0.7 S, 0.6 S, 0.4 D, 0.3 S, 0.2 D, 0.1 D.
FOUR_BY_FOUR_SIMILARITIES = np.array([0.9, 0.7, 0.6, 0.3, 0.8, 0.4, 0.2, 0.1])
FOUR_BY_FOUR_LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0])


def hand_auc(similarities: np.ndarray, labels: np.ndarray) -> float:
    """Share of (same, different) pairs ranked correctly, ties counting half."""
    positives = similarities[labels == 1]
    negatives = similarities[labels == 0]
    wins = 0.0
    for positive, negative in itertools.product(positives, negatives):
        wins += 1.0 if positive > negative else 0.5 if positive == negative else 0.0
    return wins / (len(positives) * len(negatives))


def test_perfect_separation_gives_auc_one_and_eer_zero() -> None:
    metrics = verification_metrics(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0]))
    assert metrics.auc == 1.0
    assert metrics.eer == 0.0
    assert metrics.eer_threshold == pytest.approx(0.8)
    assert (metrics.far, metrics.frr, metrics.accuracy) == (0.0, 0.0, 1.0)


def test_fully_inverted_scores_give_auc_zero_and_eer_one() -> None:
    metrics = verification_metrics(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0]))
    assert metrics.auc == 0.0
    assert metrics.eer == pytest.approx(1.0)


def test_hand_worked_four_by_four_at_given_threshold() -> None:
    # At 0.65: accepted 0.9 S, 0.8 D, 0.7 S -> FAR 1/4, FRR 2/4 (0.6 and 0.3 rejected), 5 of 8 correct.
    metrics = verification_metrics(FOUR_BY_FOUR_SIMILARITIES, FOUR_BY_FOUR_LABELS, threshold_similarity=0.65)
    assert metrics.threshold == 0.65
    assert metrics.far == pytest.approx(0.25)
    assert metrics.frr == pytest.approx(0.5)
    assert metrics.accuracy == pytest.approx(5 / 8)
    assert (metrics.n_same, metrics.n_different) == (4, 4)


def test_threshold_is_inclusive() -> None:
    # A "same" pair scoring exactly the threshold is accepted.
    metrics = verification_metrics(FOUR_BY_FOUR_SIMILARITIES, FOUR_BY_FOUR_LABELS, threshold_similarity=0.6)
    assert metrics.frr == pytest.approx(0.25)
    assert metrics.far == pytest.approx(0.25)


def test_hand_worked_four_by_four_eer() -> None:
    # At threshold 0.6: FAR = 1/4 (0.8) and FRR = 1/4 (0.3): the ROC crosses FAR == FRR exactly there.
    metrics = verification_metrics(FOUR_BY_FOUR_SIMILARITIES, FOUR_BY_FOUR_LABELS)
    assert metrics.eer == pytest.approx(0.25)
    assert metrics.eer_threshold == pytest.approx(0.6)
    assert metrics.threshold == metrics.eer_threshold
    assert metrics.accuracy == pytest.approx(0.75)


def test_eer_interpolates_between_roc_points() -> None:
    # Same 0.9, 0.4; different 0.8, 0.3, 0.2, 0.1. At 0.8: FAR 1/4, FRR 1/2. At 0.4: FAR 1/4, FRR 0.
    # FAR - FRR goes -1/4 -> +1/4, so the crossing is halfway: FAR = 1/4, FRR = 1/2 - 1/2 * 1/2 = 1/4.
    metrics = verification_metrics(np.array([0.9, 0.4, 0.8, 0.3, 0.2, 0.1]), np.array([1, 1, 0, 0, 0, 0]))
    assert metrics.eer == pytest.approx(0.25)
    # 0.4 has max(FAR, FRR) = 1/4, better than 0.8's 1/2.
    assert metrics.eer_threshold == pytest.approx(0.4)
    assert (metrics.far, metrics.frr) == (pytest.approx(0.25), 0.0)


def test_eer_interpolates_along_a_diagonal_segment_from_tied_scores() -> None:
    # Same 0.9, 0.5; different 0.5, 0.1. ROC (FAR, FRR): 0.9 -> (0, 1/2), 0.5 -> (1/2, 0) (the tie moves both).
    # On the straight segment between them FAR == FRR at 1/4, which no single threshold attains.
    metrics = verification_metrics(np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 1, 0, 0]))
    assert metrics.eer == pytest.approx(0.25)
    # Both thresholds have max(FAR, FRR) = 1/2; the tie goes to the higher threshold (fewer false accepts).
    assert metrics.eer_threshold == pytest.approx(0.9)
    assert (metrics.far, metrics.frr) == (0.0, pytest.approx(0.5))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_hand_loop_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    similarities = rng.integers(0, 6, size=40).astype(float)  # many ties
    labels = rng.integers(0, 2, size=40)
    labels[:2] = [0, 1]
    metrics = verification_metrics(similarities, labels)
    assert metrics.auc == pytest.approx(hand_auc(similarities, labels))


def test_eer_lies_between_far_and_frr_of_its_threshold_on_random_scores() -> None:
    rng = np.random.default_rng(3)
    similarities = np.r_[rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 500)]
    labels = np.r_[np.ones(300), np.zeros(500)]
    metrics = verification_metrics(similarities, labels)
    assert min(metrics.far, metrics.frr) - 1e-12 <= metrics.eer <= max(metrics.far, metrics.frr) + 1e-12
    # No other threshold has a smaller max(FAR, FRR) than the reported one.
    for threshold in np.unique(similarities):
        far = np.mean(similarities[labels == 0] >= threshold)
        frr = np.mean(similarities[labels == 1] < threshold)
        assert max(far, frr) >= max(metrics.far, metrics.frr) - 1e-12


def test_tar_at_far_by_hand() -> None:
    # 10 different pairs scored 0..9 (times 0.1), same pairs at 0.95, 0.85, 0.75, 0.05.
    # FAR <= 0.1 allows one false accept: the lowest such threshold is 0.85 (accepting 0.9 of the
    # different pairs), where same pairs 0.95 and 0.85 are accepted -> TAR 2/4.
    different = np.arange(10) / 10
    same = np.array([0.95, 0.85, 0.75, 0.05])
    metrics = verification_metrics(np.r_[same, different], np.r_[np.ones(4), np.zeros(10)])
    assert metrics.tar_at_far[0.1] == pytest.approx(0.5)
    # Ten different pairs cannot resolve FAR 1e-2 or 1e-3.
    assert metrics.tar_at_far[0.01] is None
    assert metrics.tar_at_far[0.001] is None


def test_tar_at_far_with_enough_negatives() -> None:
    rng = np.random.default_rng(0)
    different = rng.normal(0.0, 1.0, 2000)
    same = rng.normal(3.0, 1.0, 1000)
    metrics = verification_metrics(np.r_[same, different], np.r_[np.ones(1000), np.zeros(2000)])
    for target in (0.1, 0.01, 0.001):
        tar = metrics.tar_at_far[target]
        assert tar is not None
        # Reference: lowest threshold with at most target * n false accepts.
        allowed = int(np.floor(target * 2000))
        threshold = np.sort(different)[::-1][allowed] if allowed < 2000 else -np.inf
        expected = np.mean(same > threshold)
        assert tar == pytest.approx(expected)
    assert metrics.tar_at_far[0.1] >= metrics.tar_at_far[0.01] >= metrics.tar_at_far[0.001]


def test_to_dict_is_json_and_omits_curves() -> None:
    metrics = verification_metrics(FOUR_BY_FOUR_SIMILARITIES, FOUR_BY_FOUR_LABELS)
    data = json.loads(json.dumps(metrics.to_dict()))
    assert data["auc"] == pytest.approx(0.75)
    assert set(data["tar_at_far"]) == {"0.1", "0.01", "0.001"}
    assert not {"fpr", "tpr", "thresholds"} & set(data)
    assert metrics.fpr.shape == metrics.tpr.shape == metrics.thresholds.shape


@pytest.mark.parametrize(
    ("similarities", "labels", "message"),
    [
        ([0.1, 0.2], [1, 0, 1], "differ in length"),
        ([0.1, 0.2], [1, 1], "no different"),
        ([0.1, 0.2], [0, 0], "no same"),
        ([0.1, float("nan")], [1, 0], "NaN or infinite"),
        ([0.1, float("inf")], [1, 0], "NaN or infinite"),
        ([0.1, 0.2], [1, 2], "1 \\(same\\) or 0"),
        ([], [], "empty"),
        ([[0.1, 0.2]], [[1, 0]], "1-D"),
    ],
)
def test_bad_input_raises_data_error(similarities: list, labels: list, message: str) -> None:
    with pytest.raises(DataError, match=message):
        verification_metrics(np.array(similarities), np.array(labels))


def test_non_finite_threshold_is_rejected() -> None:
    with pytest.raises(DataError, match="threshold_similarity"):
        verification_metrics(FOUR_BY_FOUR_SIMILARITIES, FOUR_BY_FOUR_LABELS, threshold_similarity=float("nan"))
