"""Verification metrics: how well similarities separate "same" pairs from "different" pairs.

Conventions used throughout `siamkit.evaluation`:

* Scores are *similarities*: larger means more alike. Distances are negated first (a comparison's
  `similarity()` or `SiameseModel.similarity_from_score` do this).
* Labels are 1 for "same" and 0 for "different".
* A pair is declared "same" when `similarity >= threshold`.
* FAR (false accept rate) is the share of "different" pairs declared "same"; FRR (false reject rate) is
  the share of "same" pairs declared "different"; TAR = 1 - FRR.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siamkit.errors import DataError

logger = logging.getLogger(__name__)

# FAR targets at which the true accept rate is reported.
TAR_FAR_TARGETS: tuple[float, ...] = (1e-1, 1e-2, 1e-3)


def check_scores_and_labels(similarities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validates a batch of pair similarities and their 1/0 labels.

    Returns:
        `(similarities as float64, labels as int64)`, both 1-D.

    Raises:
        DataError: When the arrays differ in length, are empty, contain non-finite similarities, labels
            other than 0/1, or lack one of the two classes.
    """
    if np.ndim(similarities) > 1:
        raise DataError(f"similarities must be a 1-D array, got shape {np.shape(similarities)}")
    try:
        scores = np.asarray(similarities, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError("similarities must be numbers") from None
    raw_labels = np.asarray(labels)
    if raw_labels.ndim > 1:
        raise DataError(f"labels must be a 1-D array, got shape {raw_labels.shape}")
    raw_labels = raw_labels.reshape(-1)
    if scores.shape[0] != raw_labels.shape[0]:
        raise DataError(f"similarities and labels differ in length: {scores.shape[0]} vs {raw_labels.shape[0]}")
    if scores.shape[0] == 0:
        raise DataError("no pairs were given: similarities and labels are empty")
    if not np.isfinite(scores).all():
        bad = int((~np.isfinite(scores)).sum())
        raise DataError(f"similarities contain {bad} NaN or infinite value(s)")
    if not np.isin(raw_labels, (0, 1)).all():
        raise DataError("labels must be 1 (same) or 0 (different); found other values")
    integer_labels = raw_labels.astype(np.int64)
    n_same = int(integer_labels.sum())
    if n_same == 0 or n_same == integer_labels.shape[0]:
        missing = "same (label 1)" if n_same == 0 else "different (label 0)"
        raise DataError(f"both classes are needed, but there are no {missing} pairs")
    return scores, integer_labels


def rates_at_threshold(similarities: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """FAR, FRR and accuracy when pairs with `similarity >= threshold` are declared "same".

    Inputs must already be validated (see `check_scores_and_labels`).
    """
    accepted = similarities >= threshold
    same = labels == 1
    false_accept_rate = float(accepted[~same].mean())
    false_reject_rate = float((~accepted[same]).mean())
    accuracy = float((accepted == same).mean())
    return false_accept_rate, false_reject_rate, accuracy


def equal_error_rate(
    false_accept_rates: np.ndarray, true_accept_rates: np.ndarray, thresholds: np.ndarray
) -> tuple[float, float]:
    """The equal error rate and the ROC threshold nearest to it.

    Method: along the ROC (ordered by decreasing threshold) FAR rises and FRR = 1 - TAR falls, so
    `FAR - FRR` grows monotonically from -1 to +1. The EER is read where it crosses zero, by linear
    interpolation between the two adjacent ROC points that bracket the crossing (where FAR and FRR are
    equal on the straight segment joining them). It is exact whenever an ROC point has FAR == FRR.

    The reported threshold is an actual ROC threshold: the finite one minimising `max(FAR, FRR)`, which
    is always one of the two bracketing points (before the crossing the maximum is FRR, which falls;
    after it, FAR, which rises). Ties go to the higher threshold, i.e. fewer false accepts.

    Args:
        false_accept_rates: ROC false positive rates, non-decreasing (as from `sklearn.metrics.roc_curve`).
        true_accept_rates: ROC true positive rates, same length.
        thresholds: ROC thresholds, decreasing; the first may be infinite.

    Returns:
        `(eer, eer_threshold)`.
    """
    false_reject_rates = 1.0 - true_accept_rates
    difference = false_accept_rates - false_reject_rates
    crossing = int(np.argmax(difference >= 0.0))  # the last point always has difference >= 0
    if crossing == 0 or difference[crossing] == 0.0:
        eer = float(false_accept_rates[crossing])
    else:
        before, after = difference[crossing - 1], difference[crossing]
        fraction = -before / (after - before)
        eer = float(
            false_accept_rates[crossing - 1]
            + fraction * (false_accept_rates[crossing] - false_accept_rates[crossing - 1])
        )
    worst_rate = np.maximum(false_accept_rates, false_reject_rates)
    worst_rate = np.where(np.isfinite(thresholds), worst_rate, np.inf)
    best = int(np.argmin(worst_rate))  # argmin returns the first, i.e. highest, threshold on ties
    return eer, float(thresholds[best])


@dataclass
class VerificationMetrics:
    """Summary of a verification evaluation.

    Attributes:
        auc: Area under the ROC curve (probability that a random "same" pair outscores a random
            "different" pair, ties counting half).
        eer: Equal error rate (see `equal_error_rate` for the interpolation method).
        eer_threshold: Similarity threshold nearest to the EER operating point.
        threshold: The similarity threshold the rates below were measured at: the one given, else
            `eer_threshold`.
        far: False accept rate at `threshold`.
        frr: False reject rate at `threshold`.
        accuracy: Share of pairs decided correctly at `threshold`.
        tar_at_far: True accept rate at FAR targets 1e-1, 1e-2, 1e-3 (the highest TAR among thresholds whose
            FAR is at most the target); None where there are fewer than 1 / target "different" pairs, so the
            target cannot be resolved.
        n_same: Number of "same" pairs.
        n_different: Number of "different" pairs.
        fpr: ROC false accept rates (for plots; not in `to_dict`).
        tpr: ROC true accept rates (for plots; not in `to_dict`).
        thresholds: ROC similarity thresholds, decreasing; the first is +inf (for plots; not in `to_dict`).
    """

    auc: float
    eer: float
    eer_threshold: float
    threshold: float
    far: float
    frr: float
    accuracy: float
    tar_at_far: dict[float, float | None]
    n_same: int
    n_different: int
    fpr: np.ndarray = field(repr=False)
    tpr: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (plain floats and ints; FAR targets as string keys such as "0.01")."""
        return {
            "auc": self.auc,
            "eer": self.eer,
            "eer_threshold": self.eer_threshold,
            "threshold": self.threshold,
            "far": self.far,
            "frr": self.frr,
            "accuracy": self.accuracy,
            "tar_at_far": {f"{target:g}": value for target, value in self.tar_at_far.items()},
            "n_same": self.n_same,
            "n_different": self.n_different,
        }


def tar_at_far_targets(
    false_accept_rates: np.ndarray, true_accept_rates: np.ndarray, n_different: int, targets: tuple[float, ...]
) -> dict[float, float | None]:
    """Highest TAR over ROC points with FAR <= target, for each target.

    That is the TAR at the lowest threshold that keeps FAR within the target. A target below
    1 / n_different cannot be told apart from zero false accepts, so it is reported as None.
    """
    results: dict[float, float | None] = {}
    for target in targets:
        if n_different * target < 1.0:
            results[target] = None
            continue
        allowed = false_accept_rates <= target + 1e-12
        results[target] = float(true_accept_rates[allowed].max())
    return results


def verification_metrics(
    similarities: np.ndarray, labels: np.ndarray, threshold_similarity: float | None = None
) -> VerificationMetrics:
    """Computes AUC, EER, TAR@FAR and the error rates at a threshold.

    Args:
        similarities: `(P,)` pair similarities, larger = more alike.
        labels: `(P,)` 1 for "same" pairs, 0 for "different".
        threshold_similarity: Similarity threshold for FAR/FRR/accuracy; defaults to the EER threshold.

    Raises:
        DataError: On malformed input (see `check_scores_and_labels`) or a non-finite threshold.
    """
    scores, integer_labels = check_scores_and_labels(similarities, labels)
    if threshold_similarity is not None and not np.isfinite(threshold_similarity):
        raise DataError(f"threshold_similarity must be a finite number, got {threshold_similarity}")
    # Every distinct score is kept as an ROC point, so rates at any observed threshold are exact.
    from sklearn.metrics import roc_auc_score, roc_curve  # imported when needed: keeps `siamkit` quick to start

    false_accept_rates, true_accept_rates, thresholds = roc_curve(integer_labels, scores, drop_intermediate=False)
    auc = float(roc_auc_score(integer_labels, scores))
    eer, eer_threshold = equal_error_rate(false_accept_rates, true_accept_rates, thresholds)
    threshold = eer_threshold if threshold_similarity is None else float(threshold_similarity)
    far, frr, accuracy = rates_at_threshold(scores, integer_labels, threshold)
    n_same = int(integer_labels.sum())
    n_different = int(integer_labels.shape[0] - n_same)
    tar = tar_at_far_targets(false_accept_rates, true_accept_rates, n_different, TAR_FAR_TARGETS)
    logger.debug(
        "verification metrics on %d same / %d different pairs: auc=%.4f eer=%.4f", n_same, n_different, auc, eer
    )
    return VerificationMetrics(
        auc=auc,
        eer=eer,
        eer_threshold=eer_threshold,
        threshold=threshold,
        far=far,
        frr=frr,
        accuracy=accuracy,
        tar_at_far=tar,
        n_same=n_same,
        n_different=n_different,
        fpr=false_accept_rates,
        tpr=true_accept_rates,
        thresholds=thresholds,
    )
