"""Choosing a decision threshold and mapping similarities to probabilities, on a calibration split.

Calibrate on pairs the model was not trained on *and* that are not used to report results; otherwise
the threshold and probabilities look better than they will be. `overlapping_items` helps check that.

Score calibrations are stored as plain numbers (a slope and intercept, or isotonic breakpoints) so that a
bundle rebuilds them from JSON with `calibration_from_dict`, without pickles.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from siamkit.errors import ConfigError
from siamkit.evaluation.verification import check_scores_and_labels, rates_at_threshold, verification_metrics

logger = logging.getLogger(__name__)


@dataclass
class CalibrationResult:
    """A calibrated decision threshold.

    Attributes:
        threshold_similarity: Declare "same" when `similarity >= threshold_similarity`.
        achieved_far: False accept rate at that threshold on the calibration pairs.
        achieved_frr: False reject rate at that threshold on the calibration pairs.
        method: "target_far" or "eer".
    """

    threshold_similarity: float
    achieved_far: float
    achieved_frr: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold_similarity": self.threshold_similarity,
            "achieved_far": self.achieved_far,
            "achieved_frr": self.achieved_frr,
            "method": self.method,
        }


def calibrate_threshold(
    similarities: np.ndarray, labels: np.ndarray, target_far: float | None = None, use_eer: bool = False
) -> CalibrationResult:
    """Picks a similarity threshold on calibration pairs.

    With `target_far`, the threshold is the smallest observed similarity at which the FAR on the calibration
    "different" pairs is at most `target_far`: the most permissive threshold that keeps the target on this
    set (the FAR on new pairs scatters around it, more so with few "different" pairs). If even the highest
    observed similarity exceeds the target, the threshold sits just above the highest "different" score.
    With `use_eer`, it is the equal-error-rate threshold of `verification_metrics`.

    Args:
        similarities: `(P,)` calibration similarities, larger = more alike.
        labels: `(P,)` 1 = same, 0 = different.
        target_far: Wanted false accept rate, in (0, 1).
        use_eer: Use the EER threshold instead of a FAR target.

    Raises:
        ConfigError: Unless exactly one of `target_far` and `use_eer` is given, or `target_far` is outside (0, 1).
        DataError: On malformed similarities or labels.
    """
    if (target_far is None) == (not use_eer):
        raise ConfigError("calibration: give exactly one of target_far or use_eer")
    scores, integer_labels = check_scores_and_labels(similarities, labels)
    if use_eer:
        metrics = verification_metrics(scores, integer_labels)
        return CalibrationResult(metrics.eer_threshold, metrics.far, metrics.frr, "eer")
    assert target_far is not None
    if not 0.0 < target_far < 1.0:
        raise ConfigError(f"calibration: target_far must be between 0 and 1, got {target_far}")
    negatives = np.sort(scores[integer_labels == 0])
    if negatives.shape[0] * target_far < 1.0:
        logger.warning(
            "calibration has %d different pairs, too few to resolve target FAR %g; the threshold will be strict",
            negatives.shape[0],
            target_far,
        )
    candidates = np.unique(scores)
    # FAR(t) = share of negatives >= t, computed for every candidate at once from the sorted negatives.
    false_accepts = negatives.shape[0] - np.searchsorted(negatives, candidates, side="left")
    allowed = false_accepts <= target_far * negatives.shape[0] + 1e-9
    # FAR falls as the threshold rises, so the first allowed candidate is the smallest allowed threshold.
    threshold = float(candidates[np.argmax(allowed)]) if allowed.any() else float(np.nextafter(negatives[-1], np.inf))
    far, frr, _ = rates_at_threshold(scores, integer_labels, threshold)
    return CalibrationResult(threshold, far, frr, "target_far")


class ScoreCalibration:
    """Maps similarities to calibrated probabilities of "same"; rebuilt from `to_dict()` output."""

    method: ClassVar[str] = ""

    def probability(self, similarities: np.ndarray) -> np.ndarray:
        """Probabilities of "same" in [0, 1], same shape as `similarities`."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly parameters, including `method`."""
        raise NotImplementedError


@dataclass
class PlattCalibration(ScoreCalibration):
    """Platt scaling: `probability = sigmoid(slope * similarity + intercept)`."""

    slope: float
    intercept: float
    method: ClassVar[str] = "platt"

    def probability(self, similarities: np.ndarray) -> np.ndarray:
        from scipy.special import expit  # scipy and scikit-learn are imported when used: `siamkit` starts faster

        values = np.asarray(similarities, dtype=np.float64)
        return np.asarray(expit(self.slope * values + self.intercept))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def fit(cls, similarities: np.ndarray, labels: np.ndarray) -> PlattCalibration:
        """Fits slope and intercept by maximum likelihood with Platt's smoothed targets.

        Targets are `(N+ + 1) / (N+ + 2)` for "same" and `1 / (N- + 2)` for "different" (Platt, 1999), which
        keeps the slope finite when the calibration pairs are perfectly separated.
        """
        from scipy.optimize import minimize
        from scipy.special import expit, log_expit

        positives = int(labels.sum())
        negatives = int(labels.shape[0] - positives)
        targets = np.where(labels == 1, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))
        center, spread = float(similarities.mean()), float(similarities.std())
        if spread == 0.0:
            prior = float(targets.mean())
            return cls(slope=0.0, intercept=float(np.log(prior / (1.0 - prior))))
        standardised = (similarities - center) / spread

        def loss_and_gradient(parameters: np.ndarray) -> tuple[float, np.ndarray]:
            logits = parameters[0] * standardised + parameters[1]
            loss = -float(np.sum(targets * log_expit(logits) + (1.0 - targets) * log_expit(-logits)))
            residual = expit(logits) - targets
            return loss, np.array([float(residual @ standardised), float(residual.sum())])

        result = minimize(loss_and_gradient, np.zeros(2), jac=True, method="L-BFGS-B")
        scaled_slope, scaled_intercept = (float(value) for value in result.x)
        slope = scaled_slope / spread
        if slope <= 0:
            logger.warning("platt calibration slope is %.4g: similarity does not rise with 'same'", slope)
        return cls(slope=slope, intercept=scaled_intercept - slope * center)


@dataclass
class IsotonicCalibration(ScoreCalibration):
    """A non-decreasing step-linear map through breakpoints `(x, y)`; flat beyond the ends."""

    x: list[float]
    y: list[float]
    method: ClassVar[str] = "isotonic"

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ConfigError("isotonic calibration needs equally long, non-empty 'x' and 'y' breakpoints")
        if np.any(np.diff(self.x) < 0) or np.any(np.diff(self.y) < 0):
            raise ConfigError("isotonic calibration breakpoints must be non-decreasing")

    def probability(self, similarities: np.ndarray) -> np.ndarray:
        values = np.asarray(similarities, dtype=np.float64)
        return np.asarray(np.interp(values, self.x, self.y))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}

    @classmethod
    def fit(cls, similarities: np.ndarray, labels: np.ndarray) -> IsotonicCalibration:
        """Fits scikit-learn's isotonic regression and keeps only its breakpoints."""
        from sklearn.isotonic import IsotonicRegression

        regression = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        regression.fit(similarities, labels.astype(np.float64))
        return cls(
            x=[float(value) for value in regression.X_thresholds_],
            y=[float(value) for value in regression.y_thresholds_],
        )


_CALIBRATIONS: dict[str, type[PlattCalibration] | type[IsotonicCalibration]] = {
    PlattCalibration.method: PlattCalibration,
    IsotonicCalibration.method: IsotonicCalibration,
}


def fit_score_calibration(similarities: np.ndarray, labels: np.ndarray, method: str = "platt") -> ScoreCalibration:
    """Fits a similarity-to-probability map on calibration pairs.

    Args:
        similarities: `(P,)` similarities, larger = more alike.
        labels: `(P,)` 1 = same, 0 = different.
        method: "platt" (smooth, two parameters) or "isotonic" (flexible, needs more pairs).

    Raises:
        ConfigError: On an unknown method.
        DataError: On malformed similarities or labels.
    """
    if method not in _CALIBRATIONS:
        raise ConfigError(f"unknown calibration method {method!r}; choose one of: {', '.join(sorted(_CALIBRATIONS))}")
    scores, integer_labels = check_scores_and_labels(similarities, labels)
    return _CALIBRATIONS[method].fit(scores, integer_labels)


def calibration_from_dict(data: dict[str, Any]) -> ScoreCalibration:
    """Rebuilds a score calibration from its `to_dict()` form.

    Raises:
        ConfigError: When the method is unknown or a parameter is missing or not numeric.
    """
    method = data.get("method")
    if method not in _CALIBRATIONS:
        raise ConfigError(f"calibration method must be one of: {', '.join(sorted(_CALIBRATIONS))}; got {method!r}")
    try:
        if method == PlattCalibration.method:
            parameters = [float(data["slope"]), float(data["intercept"])]
            calibration: ScoreCalibration = PlattCalibration(slope=parameters[0], intercept=parameters[1])
        else:
            parameters = [float(value) for value in data["x"]] + [float(value) for value in data["y"]]
            calibration = IsotonicCalibration(
                x=[float(value) for value in data["x"]], y=[float(value) for value in data["y"]]
            )
    except KeyError as error:
        raise ConfigError(f"{method} calibration is missing {error.args[0]!r}") from None
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{method} calibration has a non-numeric parameter: {error}") from None
    if not np.isfinite(parameters).all():
        raise ConfigError(f"{method} calibration has a NaN or infinite parameter")
    return calibration


def _normalised(item: str | Path) -> str:
    return os.path.normpath(str(item))


def overlapping_items(calibration_paths: Iterable[str | Path], evaluation_paths: Iterable[str | Path]) -> set[str]:
    """Items (paths, normalised) present in both the calibration and the evaluation sets.

    A non-empty result means reported metrics are optimistic: the threshold was tuned on evaluation data.
    """
    overlap = {_normalised(item) for item in calibration_paths} & {_normalised(item) for item in evaluation_paths}
    if overlap:
        logger.warning("%d item(s) appear in both the calibration and evaluation sets", len(overlap))
    return overlap
