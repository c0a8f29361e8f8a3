"""Choosing classes: natural ordering, groups (alphabets, writers) and held-out splits of whole classes.

Verification and one-shot models are judged on classes they never saw, so splits here always move whole
classes (or whole groups of classes, such as Omniglot alphabets), never single examples.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from siamkit.errors import ConfigError

_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Orders "s2" before "s10" and "character2" before "character10" (then falls back to plain text)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(text) if part != "")


def group_of(class_name: str) -> str:
    """The folder a nested class sits in ("Alphabet/character01" -> "Alphabet"); a flat name is its own group."""
    head, separator, _ = class_name.rpartition("/")
    return head if separator else class_name


def resolve_classes(class_names: Sequence[str], classes: Sequence[int | str]) -> list[int]:
    """Turns class indices or names into indices, in the order given, rejecting unknown and repeated ones."""
    positions = {name: index for index, name in enumerate(class_names)}
    resolved: list[int] = []
    for item in classes:
        if isinstance(item, str):
            if item not in positions:
                raise ConfigError(f"unknown class {item!r} (the data set has {len(class_names)} classes)")
            resolved.append(positions[item])
        else:
            index = int(item)
            if not 0 <= index < len(class_names):
                raise ConfigError(f"class index {index} is out of range (0..{len(class_names) - 1})")
            resolved.append(index)
    if len(set(resolved)) != len(resolved):
        raise ConfigError("a class is selected more than once")
    return resolved


def choose_held_out_classes(
    class_names: Sequence[str],
    held_out: float | Sequence[str],
    seed: int = 0,
    by_group: bool = False,
) -> list[int]:
    """Picks which classes to hold out, as sorted class indices.

    Args:
        class_names: All class names.
        held_out: A fraction in (0, 1) of the classes (or groups) to hold out, chosen at random, or names:
            each name is a class name or a group name (all of that group's classes are held out).
        seed: Seed of the random choice (ignored for names).
        by_group: With a fraction, hold out that fraction of *groups* (e.g. whole alphabets) instead of classes.

    Raises:
        ConfigError: a fraction outside (0, 1), a name that is neither a class nor a group, or a split that
            leaves either side empty.
    """
    if isinstance(held_out, str):
        held_out = [held_out]
    groups = [group_of(name) for name in class_names]
    if isinstance(held_out, float | int):
        fraction = float(held_out)
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"held-out fraction must be between 0 and 1 (exclusive), got {fraction}")
        units = sorted(set(groups), key=natural_sort_key) if by_group else list(class_names)
        count = min(len(units) - 1, max(1, round(fraction * len(units))))
        if count < 1:
            raise ConfigError(f"cannot split {len(units)} {'group' if by_group else 'class'}(es) in two")
        chosen_units = {units[i] for i in np.random.default_rng(seed).choice(len(units), size=count, replace=False)}
        keys = groups if by_group else list(class_names)
        chosen = [index for index, key in enumerate(keys) if key in chosen_units]
    else:
        names = set(held_out)
        unknown = sorted(names - set(class_names) - set(groups))
        if unknown:
            raise ConfigError(f"held-out names are neither classes nor groups: {unknown[:5]}")
        chosen = [index for index, name in enumerate(class_names) if name in names or groups[index] in names]
    if not chosen or len(chosen) == len(class_names):
        raise ConfigError(f"the split holds out {len(chosen)} of {len(class_names)} classes; both sides need some")
    return sorted(chosen)


def relabel(labels: torch.Tensor, kept_classes: Sequence[int], num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Selects the examples of `kept_classes` and renumbers them 0..k-1 in the order given.

    Returns:
        `(example_indices, new_labels)`: which examples to keep (in their original order) and their new labels.
    """
    mapping = torch.full((num_classes,), -1, dtype=torch.int64)
    mapping[torch.as_tensor(list(kept_classes), dtype=torch.int64)] = torch.arange(len(kept_classes))
    new_labels = mapping[labels]
    keep = torch.nonzero(new_labels >= 0).flatten()
    return keep, new_labels[keep]


def as_index(indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Example indices as a flat `int64` tensor; a boolean mask becomes the positions where it is true."""
    index = torch.as_tensor(indices)
    if index.dtype == torch.bool:
        return torch.nonzero(index.flatten()).flatten()
    return index.to(torch.int64).flatten()
