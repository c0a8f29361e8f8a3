"""Threshold calibration and score-to-probability maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from siamkit.errors import ConfigError, DataError
from siamkit.evaluation.calibration import (
    IsotonicCalibration,
    PlattCalibration,
    calibrate_threshold,
    calibration_from_dict,
    fit_score_calibration,
    overlapping_items,
)
from siamkit.evaluation.verification import verification_metrics


def gaussian_scores(seed: int, same: int, different: int) -> tuple[np.ndarray, np.ndarray]:
    """Same-pair similarities ~ N(2, 1), different ~ N(0, 1): the true log-odds is 2s - 2 + log(same/different)."""
    rng = np.random.default_rng(seed)
    similarities = np.r_[rng.normal(2.0, 1.0, same), rng.normal(0.0, 1.0, different)]
    labels = np.r_[np.ones(same, dtype=int), np.zeros(different, dtype=int)]
    return similarities, labels


def far_frr(similarities: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    return float(np.mean(similarities[labels == 0] >= threshold)), float(np.mean(similarities[labels == 1] < threshold))


@pytest.mark.parametrize("target", [0.01, 0.05, 0.2])
def test_target_far_holds_on_calibration_and_generalises(target: float) -> None:
    calibration = gaussian_scores(0, 2000, 4000)
    result = calibrate_threshold(*calibration, target_far=target)
    assert result.method == "target_far"
    assert result.achieved_far <= target
    assert (result.achieved_far, result.achieved_frr) == far_frr(*calibration, result.threshold_similarity)
    # The smallest such threshold: the next lower observed similarity would exceed the target.
    lower = calibration[0][calibration[0] < result.threshold_similarity].max()
    assert far_frr(*calibration, lower)[0] > target
    held_out = gaussian_scores(1, 20000, 100000)
    assert far_frr(*held_out, result.threshold_similarity)[0] == pytest.approx(target, abs=0.02 * target / 0.05)


def test_target_far_by_hand() -> None:
    # Different: 0.1, 0.2, 0.3, 0.4 (4 pairs); target 0.25 allows one false accept (0.4). The smallest observed
    # similarity that keeps it to one is 0.35 (a same pair): both same pairs (0.35, 0.5) are accepted.
    similarities = np.array([0.5, 0.35, 0.1, 0.2, 0.3, 0.4])
    labels = np.array([1, 1, 0, 0, 0, 0])
    result = calibrate_threshold(similarities, labels, target_far=0.25)
    assert result.threshold_similarity == pytest.approx(0.35)
    assert (result.achieved_far, result.achieved_frr) == (0.25, 0.0)
    # Target 0.2 allows no false accept: the threshold moves above 0.4 to the next observed similarity, 0.5.
    strict = calibrate_threshold(similarities, labels, target_far=0.2)
    assert strict.threshold_similarity == pytest.approx(0.5)
    assert (strict.achieved_far, strict.achieved_frr) == (0.0, 0.5)


def test_unreachable_target_puts_the_threshold_above_every_different_pair() -> None:
    similarities = np.array([0.5, 0.9, 0.1, 0.8])
    labels = np.array([1, 0, 0, 1])  # the highest score is a different pair
    result = calibrate_threshold(similarities, labels, target_far=0.01)
    assert result.threshold_similarity > 0.9
    assert result.achieved_far == 0.0
    assert result.achieved_frr == 1.0


def test_eer_option_matches_verification_metrics() -> None:
    similarities, labels = gaussian_scores(2, 500, 500)
    result = calibrate_threshold(similarities, labels, use_eer=True)
    metrics = verification_metrics(similarities, labels)
    assert result.method == "eer"
    assert result.threshold_similarity == metrics.eer_threshold
    assert abs(result.achieved_far - result.achieved_frr) <= 2 / 500
    assert result.achieved_far == pytest.approx(metrics.eer, abs=2 / 500)


@pytest.mark.parametrize(
    ("options", "message"),
    [({}, "exactly one"), ({"target_far": 0.1, "use_eer": True}, "exactly one"), ({"target_far": 1.5}, "between")],
)
def test_bad_calibration_options_raise_config_error(options: dict, message: str) -> None:
    similarities, labels = gaussian_scores(0, 10, 10)
    with pytest.raises(ConfigError, match=message):
        calibrate_threshold(similarities, labels, **options)


def test_bad_scores_raise_data_error() -> None:
    with pytest.raises(DataError, match="no different"):
        calibrate_threshold(np.array([0.1, 0.2]), np.array([1, 1]), target_far=0.1)
    with pytest.raises(DataError, match="differ in length"):
        fit_score_calibration(np.array([0.1, 0.2]), np.array([1]))


def test_platt_recovers_the_true_log_odds() -> None:
    similarities, labels = gaussian_scores(0, 20000, 20000)
    calibration = fit_score_calibration(similarities, labels, method="platt")
    assert isinstance(calibration, PlattCalibration)
    # Equal-variance Gaussians at 2 and 0 with equal priors: log-odds = 2 s - 2.
    assert calibration.slope == pytest.approx(2.0, abs=0.1)
    assert calibration.intercept == pytest.approx(-2.0, abs=0.1)


def test_platt_stays_finite_on_perfectly_separated_scores() -> None:
    calibration = fit_score_calibration(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0]), method="platt")
    assert isinstance(calibration, PlattCalibration)
    assert np.isfinite([calibration.slope, calibration.intercept]).all()
    probabilities = calibration.probability(np.array([0.1, 0.9]))
    assert probabilities[0] < 0.5 < probabilities[1]


def test_isotonic_matches_sklearn_and_is_a_step_fit() -> None:
    from sklearn.isotonic import IsotonicRegression

    similarities, labels = gaussian_scores(3, 300, 300)
    calibration = fit_score_calibration(similarities, labels, method="isotonic")
    assert isinstance(calibration, IsotonicCalibration)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(similarities, labels)
    probe = np.linspace(-4, 6, 401)
    np.testing.assert_allclose(calibration.probability(probe), reference.predict(probe), atol=1e-12)
    # Isotonic calibration of perfectly separated scores jumps from 0 to 1.
    separated = fit_score_calibration(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0]), method="isotonic")
    assert separated.probability(np.array([0.0, 0.15, 0.85, 1.0])).tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_probabilities_are_monotone_bounded_and_survive_a_json_round_trip(method: str) -> None:
    similarities, labels = gaussian_scores(4, 1000, 3000)
    calibration = fit_score_calibration(similarities, labels, method=method)
    probe = np.linspace(-10, 12, 2001)
    probabilities = calibration.probability(probe)
    assert probabilities.shape == probe.shape
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert np.all(np.diff(probabilities) >= 0)
    assert probabilities[-1] - probabilities[0] > 0.9
    rebuilt = calibration_from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert type(rebuilt) is type(calibration)
    np.testing.assert_array_equal(rebuilt.probability(probe), probabilities)
    assert rebuilt.to_dict() == calibration.to_dict()


def test_probabilities_are_roughly_calibrated_on_fresh_data() -> None:
    calibration = fit_score_calibration(*gaussian_scores(5, 3000, 3000), method="platt")
    similarities, labels = gaussian_scores(6, 30000, 30000)
    probabilities = calibration.probability(similarities)
    # Among pairs given about 0.3 and about 0.7, the share of "same" pairs is about that.
    for centre in (0.3, 0.7):
        chosen = np.abs(probabilities - centre) < 0.05
        assert labels[chosen].mean() == pytest.approx(centre, abs=0.05)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"method": "beta"}, "method must be one of"),
        ({}, "method must be one of"),
        ({"method": "platt", "slope": 1.0}, "missing 'intercept'"),
        ({"method": "platt", "slope": "steep", "intercept": 0.0}, "non-numeric"),
        ({"method": "platt", "slope": float("nan"), "intercept": 0.0}, "NaN or infinite"),
        ({"method": "isotonic", "x": [0.0, 1.0], "y": [0.5]}, "equally long"),
        ({"method": "isotonic", "x": [1.0, 0.0], "y": [0.2, 0.5]}, "non-decreasing"),
    ],
)
def test_bad_calibration_dicts_raise_config_error(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        calibration_from_dict(data)


def test_unknown_fit_method_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown calibration method 'beta'"):
        fit_score_calibration(np.array([0.1, 0.2]), np.array([1, 0]), method="beta")


def test_overlapping_items_normalises_paths() -> None:
    calibration = ["data/a.png", Path("data/b.png"), "data/./c.png"]
    evaluation = ["data/c.png", "data/d.png", "data//b.png"]
    assert overlapping_items(calibration, evaluation) == {"data/b.png", "data/c.png"}
    assert overlapping_items(["x"], ["y"]) == set()
