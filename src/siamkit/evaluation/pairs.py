"""Evaluation pair protocols: which pairs of a labelled set are scored, fixed so results can be repeated.

The standard protocol here takes every same-class pair and a seeded sample of different-class pairs. A
protocol's pair list can be saved as CSV (`first,second,label`) and read back, so another model (or the
same model later) is evaluated on exactly the same pairs.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siamkit.atomic import write_text_atomic
from siamkit.errors import DataError

logger = logging.getLogger(__name__)

PAIR_LIST_HEADER = ("first", "second", "label")

# Below this many index pairs in total, different pairs are drawn from a full enumeration; above it, by
# rejection sampling, so memory stays bounded for large sets.
_ENUMERATION_LIMIT = 4_000_000


def _same_pairs(class_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every `(i, j)` with `i < j` and equal class, sorted by `i` then `j`."""
    firsts, seconds = [], []
    for class_id in np.unique(class_ids):
        members = np.flatnonzero(class_ids == class_id)
        upper_first, upper_second = np.triu_indices(members.shape[0], k=1)
        firsts.append(members[upper_first])
        seconds.append(members[upper_second])
    first = np.concatenate(firsts)
    second = np.concatenate(seconds)
    order = np.lexsort((second, first))
    return first[order], second[order]


def _sample_different_pairs(
    class_ids: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`count` distinct different-class pairs `(i, j)`, `i < j`, drawn uniformly without replacement."""
    size = class_ids.shape[0]
    if size * (size - 1) // 2 <= _ENUMERATION_LIMIT:
        all_first, all_second = np.triu_indices(size, k=1)
        different = class_ids[all_first] != class_ids[all_second]
        candidates_first, candidates_second = all_first[different], all_second[different]
        chosen = rng.choice(candidates_first.shape[0], size=count, replace=False)
        return candidates_first[chosen], candidates_second[chosen]
    # Rejection sampling: draw index pairs, keep different-class ones, drop repeats (first draw wins).
    codes = np.empty(0, dtype=np.int64)
    while codes.shape[0] < count:
        batch = max(2 * (count - codes.shape[0]), 1024)
        first = rng.integers(0, size, size=batch)
        second = rng.integers(0, size, size=batch)
        keep = class_ids[first] != class_ids[second]
        low, high = np.minimum(first[keep], second[keep]), np.maximum(first[keep], second[keep])
        codes = np.concatenate([codes, low.astype(np.int64) * size + high])
        _, first_seen = np.unique(codes, return_index=True)
        codes = codes[np.sort(first_seen)]
    codes = codes[:count]
    return codes // size, codes % size


def all_same_pairs_and_sampled_different(
    labels: np.ndarray, n_different: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every same-class pair plus a seeded sample of different-class pairs.

    Args:
        labels: `(N,)` class of each item (any hashable values numpy can compare: ints, strings).
        n_different: How many different-class pairs to draw; by default as many as there are same-class
            pairs (capped at the number that exist).
        seed: Seed of the sample; the same labels and seed always give the same pairs.

    Returns:
        `(first, second, pair_labels)`: int64 item indices with `first < second` and 1/0 labels. Same pairs
        come first, then different pairs, each block sorted by `(first, second)`.

    Raises:
        DataError: When no class has two items, there is only one class, or more different pairs are asked
            for than exist.
    """
    values = np.asarray(labels)
    if values.ndim != 1:
        raise DataError(f"labels must be a 1-D array, got shape {values.shape}")
    _, class_ids = np.unique(values, return_inverse=True)
    class_ids = class_ids.reshape(-1)
    counts = np.bincount(class_ids)
    if counts.size < 2:
        raise DataError("pair protocol needs at least two classes to form different pairs")
    if counts.max() < 2:
        raise DataError("pair protocol needs a class with at least two items to form same pairs")
    size = int(class_ids.shape[0])
    total_different = (size * size - int((counts.astype(np.int64) ** 2).sum())) // 2

    same_first, same_second = _same_pairs(class_ids)
    if n_different is None:
        count = min(same_first.shape[0], total_different)
        if count < same_first.shape[0]:
            logger.warning(
                "only %d different-class pairs exist, fewer than the %d same-class pairs", count, same_first.shape[0]
            )
    else:
        count = int(n_different)
        if count < 0:
            raise DataError(f"n_different must be zero or more, got {n_different}")
        if count > total_different:
            raise DataError(f"n_different={count} exceeds the {total_different} different-class pairs that exist")
    rng = np.random.default_rng(seed)
    different_first, different_second = _sample_different_pairs(class_ids, count, rng)
    order = np.lexsort((different_second, different_first))
    first = np.concatenate([same_first, different_first[order]]).astype(np.int64)
    second = np.concatenate([same_second, different_second[order]]).astype(np.int64)
    pair_labels = np.concatenate([np.ones(same_first.shape[0], np.int64), np.zeros(count, np.int64)])
    return first, second, pair_labels


def save_pair_list(
    path: str | Path,
    paths_first: Sequence[str | Path],
    paths_second: Sequence[str | Path],
    labels: Sequence[int] | np.ndarray,
) -> Path:
    """Writes a pair list as CSV with header `first,second,label`, atomically.

    Args:
        path: The CSV file to write.
        paths_first: First item of each pair (file paths or any item identifiers).
        paths_second: Second item of each pair.
        labels: 1 (same) or 0 (different) per pair.

    Returns:
        The path written.
    """
    label_values = [int(label) for label in labels]
    if not len(paths_first) == len(paths_second) == len(label_values):
        raise DataError(
            f"pair list columns differ in length: {len(paths_first)} first, {len(paths_second)} second, "
            f"{len(label_values)} labels"
        )
    if any(label not in (0, 1) for label in label_values):
        raise DataError("pair labels must be 1 (same) or 0 (different)")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PAIR_LIST_HEADER)
    for first, second, label in zip(paths_first, paths_second, label_values, strict=True):
        writer.writerow((str(first), str(second), label))
    write_text_atomic(path, buffer.getvalue())
    return Path(path)


def load_pair_list(path: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """Reads a pair list written by `save_pair_list`.

    Returns:
        `(first items, second items, int64 labels)`.

    Raises:
        DataError: When the file is missing, has the wrong header, or a row is malformed (the message names
            the file and line).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{source}: cannot read pair list ({error.strerror or error})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(cell.strip() for cell in rows[0]) != PAIR_LIST_HEADER:
        raise DataError(f"{source}: pair list must start with the header line 'first,second,label'")
    firsts: list[str] = []
    seconds: list[str] = []
    labels: list[int] = []
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 3 or row[2].strip() not in ("0", "1"):
            raise DataError(f"{source}:{line_number}: expected 'first,second,label' with label 0 or 1, got {row}")
        firsts.append(row[0])
        seconds.append(row[1])
        labels.append(int(row[2]))
    if not labels:
        raise DataError(f"{source}: pair list has no pairs")
    return firsts, seconds, np.asarray(labels, dtype=np.int64)
