"""Per-class breakdown: counts and rates checked by hand on a tiny set of pairs."""

from __future__ import annotations

import numpy as np
import pytest

from siamkit.errors import DataError
from siamkit.evaluation.per_class import per_class_breakdown

NAMES = ["alice", "bob", "carol"]


def by_name(entries: list) -> dict:
    return {entry.name: entry for entry in entries}


def test_rates_counts_and_order_by_hand() -> None:
    # pairs:           a-a  a-a  b-b  b-b  a-b  a-c  b-c  c-c
    similarities = np.array([0.9, 0.4, 0.8, 0.7, 0.6, 0.2, 0.3, 0.95])
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 1])
    first = np.array([0, 0, 1, 1, 0, 0, 1, 2])
    second = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    entries = per_class_breakdown(similarities, labels, first, second, NAMES, threshold=0.5)
    table = by_name(entries)
    alice, bob, carol = table["alice"], table["bob"], table["carol"]
    # alice: same 0.9 (accepted), 0.4 (rejected); different with bob 0.6 (accepted), with carol 0.2.
    assert (alice.n_same, alice.n_different, alice.false_rejects, alice.false_accepts) == (2, 2, 1, 1)
    assert alice.frr == pytest.approx(0.5) and alice.far == pytest.approx(0.5)
    # bob: same 0.8, 0.7 accepted; different 0.6 (accepted, with alice) and 0.3.
    assert (bob.n_same, bob.n_different, bob.false_rejects, bob.false_accepts) == (2, 2, 0, 1)
    assert bob.frr == 0.0 and bob.far == pytest.approx(0.5) and bob.eer == 0.0  # 0.7 > 0.6 separates bob's pairs
    # carol: same 0.95; different 0.2, 0.3: no error at 0.5, perfectly separable.
    assert (carol.n_same, carol.n_different, carol.false_rejects, carol.false_accepts) == (1, 2, 0, 0)
    assert carol.eer == 0.0
    # alice's pairs: same {0.9, 0.4} vs different {0.6, 0.2}: one of two same pairs below a different one.
    assert alice.eer == pytest.approx(0.5)
    assert [entry.name for entry in entries] == ["alice", "bob", "carol"]  # mean of FAR and FRR: 0.5, 0.25, 0
    assert entries[0].to_dict()["name"] == "alice"


def test_a_class_with_only_different_pairs_has_no_frr_or_eer() -> None:
    entries = per_class_breakdown(
        np.array([0.9, 0.1, 0.8]), np.array([1, 0, 0]), np.array([0, 0, 0]), np.array([0, 1, 1]), NAMES, 0.5
    )
    bob = by_name(entries)["bob"]
    assert bob.n_same == 0 and bob.frr is None and bob.eer is None and bob.far == pytest.approx(0.5)
    assert "carol" not in by_name(entries)  # no pair involves it


def test_bad_input_names_what_is_wrong() -> None:
    scores, labels = np.array([0.9, 0.1]), np.array([1, 0])
    with pytest.raises(DataError, match="one class pair per score"):
        per_class_breakdown(scores, labels, np.array([0]), np.array([0, 1]), NAMES, 0.5)
    with pytest.raises(DataError, match="class indices"):
        per_class_breakdown(scores, labels, np.array([0, 0]), np.array([0, 3]), NAMES, 0.5)
