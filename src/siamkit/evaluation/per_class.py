"""Where the errors are: verification rates broken down by class (person, writer, character).

A pooled EER hides whether errors are spread thin or come from a few hard classes (a writer whose forgeries
are very good, a person photographed under unusual light). The breakdown answers that, which decides what to
do next: more data for those classes, or a better model overall.

A pair counts for every class it involves: a "same" pair for its one class, a "different" pair for both of
its classes (under the `signatures` protocol both images of a pair carry the writer's label, so each pair
counts once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from siamkit.errors import DataError
from siamkit.evaluation.verification import check_scores_and_labels, equal_error_rate


@dataclass(frozen=True)
class ClassBreakdown:
    """Verification rates of the pairs that involve one class.

    Attributes:
        name: The class's name (its folder).
        n_same: Same pairs of this class.
        n_different: Different pairs with an image of this class.
        false_rejects: Same pairs rejected at the threshold.
        false_accepts: Different pairs accepted at the threshold.
        frr: `false_rejects / n_same`; None without same pairs.
        far: `false_accepts / n_different`; None without different pairs.
        eer: Equal error rate of this class's pairs alone (what a threshold fitted to this class would
            reach); None unless it has pairs of both kinds.
    """

    name: str
    n_same: int
    n_different: int
    false_rejects: int
    false_accepts: int
    frr: float | None
    far: float | None
    eer: float | None

    @property
    def half_total_error_rate(self) -> float:
        """Mean of FAR and FRR over the kinds of pairs this class has: the order of the breakdown."""
        rates = [rate for rate in (self.far, self.frr) if rate is not None]
        return float(np.mean(rates)) if rates else 0.0

    def to_dict(self) -> dict[str, str | int | float | None]:
        return asdict(self)


def _class_eer(scores: np.ndarray, labels: np.ndarray) -> float | None:
    if labels.min() == labels.max():
        return None
    from sklearn.metrics import roc_curve  # imported when needed: keeps `siamkit` quick to start

    false_accept_rates, true_accept_rates, thresholds = roc_curve(labels, scores)
    eer, _ = equal_error_rate(false_accept_rates, true_accept_rates, thresholds)
    return eer


def per_class_breakdown(
    similarities: np.ndarray,
    pair_labels: np.ndarray,
    first_classes: np.ndarray,
    second_classes: np.ndarray,
    class_names: Sequence[str],
    threshold: float,
) -> list[ClassBreakdown]:
    """FAR, FRR and EER per class at one similarity threshold, worst class first.

    Args:
        similarities: `(P,)` pair similarities, larger = more alike.
        pair_labels: `(P,)` 1 (same) / 0 (different).
        first_classes: `(P,)` class index of each pair's first image, into `class_names`.
        second_classes: `(P,)` class index of each pair's second image.
        class_names: Name of every class index.
        threshold: Pairs with `similarity >= threshold` are accepted as "same".

    Returns:
        One entry per class that appears in a pair, ordered by the mean of its FAR and FRR (highest first),
        then by name.

    Raises:
        DataError: On malformed scores or labels, class arrays of another length, or class indices outside
            `class_names`.
    """
    scores, labels = check_scores_and_labels(similarities, pair_labels)
    first = np.asarray(first_classes, dtype=np.int64).reshape(-1)
    second = np.asarray(second_classes, dtype=np.int64).reshape(-1)
    if not first.shape[0] == second.shape[0] == scores.shape[0]:
        raise DataError(
            f"per-class breakdown needs one class pair per score: got {first.shape[0]} first and "
            f"{second.shape[0]} second classes for {scores.shape[0]} scores"
        )
    lowest, highest = int(min(first.min(), second.min())), int(max(first.max(), second.max()))
    if lowest < 0 or highest >= len(class_names):
        raise DataError(f"class indices must lie in [0, {len(class_names)}), got {lowest}..{highest}")
    accepted = scores >= threshold
    # Each pair is listed under its first class, and under its second when that differs; grouping the list by
    # class once keeps the whole breakdown O(P log P) however many classes there are.
    pair_indices = np.arange(scores.shape[0])
    crosses = second != first
    member_classes = np.concatenate([first, second[crosses]])
    member_pairs = np.concatenate([pair_indices, pair_indices[crosses]])
    order = np.argsort(member_classes, kind="stable")
    member_classes, member_pairs = member_classes[order], member_pairs[order]
    starts = np.flatnonzero(np.r_[True, member_classes[1:] != member_classes[:-1]])
    breakdown = []
    for class_index, pairs in zip(member_classes[starts].tolist(), np.split(member_pairs, starts[1:]), strict=True):
        class_labels, class_accepted = labels[pairs], accepted[pairs]
        same = class_labels == 1
        n_same, n_different = int(same.sum()), int((~same).sum())
        false_rejects = int((same & ~class_accepted).sum())
        false_accepts = int((~same & class_accepted).sum())
        breakdown.append(
            ClassBreakdown(
                name=str(class_names[class_index]),
                n_same=n_same,
                n_different=n_different,
                false_rejects=false_rejects,
                false_accepts=false_accepts,
                frr=false_rejects / n_same if n_same else None,
                far=false_accepts / n_different if n_different else None,
                eer=_class_eer(scores[pairs], class_labels),
            )
        )
    breakdown.sort(key=lambda entry: (-entry.half_total_error_rate, entry.name))
    return breakdown
