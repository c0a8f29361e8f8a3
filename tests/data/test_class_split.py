"""Natural ordering, groups and held-out class choices."""

from __future__ import annotations

import pytest
import torch

from siamkit.data.class_split import (
    choose_held_out_classes,
    group_of,
    natural_sort_key,
    relabel,
    resolve_classes,
)
from siamkit.errors import ConfigError

NAMES = [f"{alphabet}/c{index}" for alphabet in ("A", "B", "C") for index in range(1, 5)]


def test_natural_order_and_groups():
    assert sorted(["s10", "s2", "s1", "b", "a10b", "a9b"], key=natural_sort_key) == [
        "a9b",
        "a10b",
        "b",
        "s1",
        "s2",
        "s10",
    ]
    assert group_of("Greek/character07") == "Greek"
    assert group_of("a/b/c") == "a/b"
    assert group_of("s1") == "s1"


def test_fraction_holds_out_a_seeded_random_share_of_classes():
    held = choose_held_out_classes(NAMES, 0.25, seed=1)
    assert len(held) == 3 and held == sorted(held)
    assert held == choose_held_out_classes(NAMES, 0.25, seed=1)
    assert any(choose_held_out_classes(NAMES, 0.25, seed=seed) != held for seed in range(2, 6))


def test_by_group_holds_out_whole_groups():
    held = choose_held_out_classes(NAMES, 0.34, seed=0, by_group=True)
    assert len(held) == 4 and len({group_of(NAMES[index]) for index in held}) == 1


def test_names_select_classes_or_groups():
    assert choose_held_out_classes(NAMES, ["B", "C/c2"]) == [4, 5, 6, 7, 9]
    assert choose_held_out_classes(NAMES, "A") == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match=r"neither classes nor groups: \['Z'\]"):
        choose_held_out_classes(NAMES, ["Z"])
    with pytest.raises(ConfigError, match="both sides need some"):
        choose_held_out_classes(NAMES, ["A", "B", "C"])
    with pytest.raises(ConfigError, match="between 0 and 1"):
        choose_held_out_classes(NAMES, 1.5)


def test_resolve_and_relabel():
    assert resolve_classes(["x", "y", "z"], ["z", 0]) == [2, 0]
    with pytest.raises(ConfigError, match="more than once"):
        resolve_classes(["x", "y"], ["x", 0])
    with pytest.raises(ConfigError, match="out of range"):
        resolve_classes(["x", "y"], [2])
    keep, labels = relabel(torch.tensor([0, 2, 1, 2, 0]), [2, 0], num_classes=3)
    assert keep.tolist() == [0, 1, 3, 4] and labels.tolist() == [1, 0, 0, 1]
