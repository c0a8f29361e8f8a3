"""Pair and triplet lists in CSV files, for data sets that come as explicit comparisons rather than classes.

A pairs CSV has the header `first,second,label` (label 1 = same, 0 = different) or `first,second,distance`
(a target distance, for distance regression); a triplets CSV has `anchor,positive,negative`. Paths are
relative to the CSV's folder (or to `root`). Each distinct image is decoded once and stored once; the pairs
and triplets index into that store.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from siamkit.data.decoding import load_image_arrays
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import DataError


@dataclass
class PairDataset:
    """Pairs of images with a same/different label or a target distance.

    Attributes:
        images: `(U, channels, height, width)` `uint8`, each distinct file once.
        first_index: `(P,)` `int64` index into `images` of each pair's first image.
        second_index: `(P,)` `int64` index of each pair's second image.
        labels: `(P,)` `float32`: 1 = same, 0 = different, or target distances when `target_kind` is `distance`.
        paths: `(U)` the file of each stored image.
        preprocessing: How the images were made.
        target_kind: `label` or `distance`, after the CSV's column.
    """

    images: torch.Tensor
    first_index: torch.Tensor
    second_index: torch.Tensor
    labels: torch.Tensor
    paths: list[str]
    preprocessing: PreprocessingConfig
    target_kind: Literal["label", "distance"] = "label"

    def __len__(self) -> int:
        return int(self.first_index.shape[0])


@dataclass
class TripletDataset:
    """Triplets of images: an anchor, a positive of its class and a negative of another.

    Attributes:
        images: `(U, channels, height, width)` `uint8`, each distinct file once.
        anchor_index: `(T,)` `int64` index into `images` of each anchor.
        positive_index: `(T,)` `int64` index of each positive.
        negative_index: `(T,)` `int64` index of each negative.
        paths: `(U)` the file of each stored image.
        preprocessing: How the images were made.
    """

    images: torch.Tensor
    anchor_index: torch.Tensor
    positive_index: torch.Tensor
    negative_index: torch.Tensor
    paths: list[str]
    preprocessing: PreprocessingConfig

    def __len__(self) -> int:
        return int(self.anchor_index.shape[0])


@dataclass
class _Table:
    rows: list[dict[str, str]]
    line_numbers: list[int]
    columns: list[str]


def _read_table(path: Path, required: Sequence[str]) -> _Table:
    """Reads a CSV with a header, checking that `required` columns exist and that there is a row."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            columns = [name.strip() for name in reader.fieldnames or []]
            if not columns:
                raise DataError(f"{path}: the CSV is empty (expected a header: {','.join(required)})")
            reader.fieldnames = columns
            missing = [name for name in required if name not in columns]
            if missing:
                raise DataError(f"{path}: missing column {missing[0]!r} (the header has: {', '.join(columns)})")
            rows: list[dict[str, str]] = []
            line_numbers: list[int] = []
            for row in reader:
                if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                    continue  # blank line
                rows.append(row)
                line_numbers.append(reader.line_num)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text CSV") from None
    except csv.Error as error:
        raise DataError(f"{path}: malformed CSV ({error})") from None
    if not rows:
        raise DataError(f"{path}: the CSV has a header but no rows")
    return _Table(rows, line_numbers, columns)


class _ImageStore:
    """Assigns each distinct file an index, so it is decoded once however many rows name it."""

    def __init__(self, csv_path: Path, root: Path) -> None:
        self.csv_path = csv_path
        self.root = root
        self.paths: list[Path] = []
        self._index: dict[str, int] = {}

    def index_of(self, value: str | None, column: str, line: int) -> int:
        value = (value or "").strip()
        if not value:
            raise DataError(f"{self.csv_path}: line {line}: column {column!r} is empty")
        path = self.root / value
        key = os.path.normpath(path)
        if key not in self._index:
            if not path.is_file():
                raise DataError(f"{self.csv_path}: line {line}: no such file {path}")
            self._index[key] = len(self.paths)
            self.paths.append(path)
        return self._index[key]

    def load(self, preprocessing: PreprocessingConfig, show_progress: bool) -> torch.Tensor:
        arrays = load_image_arrays(self.paths, preprocessing, show_progress=show_progress)
        return torch.from_numpy(arrays)


def _parse_target(value: str | None, kind: str, path: Path, line: int) -> float:
    text = (value or "").strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if kind == "label":
        if number not in (0.0, 1.0):
            raise DataError(f"{path}: line {line}: label must be 0 (different) or 1 (same), got {text!r}")
    elif not (math.isfinite(number) and number >= 0):
        raise DataError(f"{path}: line {line}: distance must be a non-negative number, got {text!r}")
    return number


def read_pairs_csv(
    path: str | Path,
    preprocessing: PreprocessingConfig,
    root: str | Path | None = None,
    *,
    show_progress: bool = False,
) -> PairDataset:
    """Reads a pairs CSV (`first,second,label` or `first,second,distance`) and decodes its images once each.

    Args:
        path: The CSV file. Extra columns are ignored; blank lines are skipped.
        preprocessing: How to decode each image.
        root: Folder the image paths are relative to (default: the CSV's folder). Absolute paths also work.
        show_progress: Show a progress bar while decoding.

    Raises:
        DataError: an empty CSV, a missing column, an empty cell, a label other than 0/1 (or a negative or
            non-numeric distance), or a missing or undecodable image, naming the CSV line or the file.
    """
    csv_path = Path(path)
    table = _read_table(csv_path, ["first", "second"])
    if "label" in table.columns:
        kind: Literal["label", "distance"] = "label"
    elif "distance" in table.columns:
        kind = "distance"
    else:
        raise DataError(
            f"{csv_path}: missing column 'label' (or 'distance'); the header has: {', '.join(table.columns)}"
        )
    store = _ImageStore(csv_path, Path(root) if root is not None else csv_path.parent)
    first, second, targets = [], [], []
    for row, line in zip(table.rows, table.line_numbers, strict=True):
        first.append(store.index_of(row.get("first"), "first", line))
        second.append(store.index_of(row.get("second"), "second", line))
        targets.append(_parse_target(row.get(kind), kind, csv_path, line))
    return PairDataset(
        images=store.load(preprocessing, show_progress),
        first_index=torch.tensor(first, dtype=torch.int64),
        second_index=torch.tensor(second, dtype=torch.int64),
        labels=torch.tensor(targets, dtype=torch.float32),
        paths=[str(image) for image in store.paths],
        preprocessing=preprocessing,
        target_kind=kind,
    )


def read_triplets_csv(
    path: str | Path,
    preprocessing: PreprocessingConfig,
    root: str | Path | None = None,
    *,
    show_progress: bool = False,
) -> TripletDataset:
    """Reads a triplets CSV (`anchor,positive,negative`) and decodes its images once each.

    Args:
        path: The CSV file. Extra columns are ignored; blank lines are skipped.
        preprocessing: How to decode each image.
        root: Folder the image paths are relative to (default: the CSV's folder). Absolute paths also work.
        show_progress: Show a progress bar while decoding.

    Raises:
        DataError: an empty CSV, a missing column, an empty cell, or a missing or undecodable image.
    """
    csv_path = Path(path)
    columns = ["anchor", "positive", "negative"]
    table = _read_table(csv_path, columns)
    store = _ImageStore(csv_path, Path(root) if root is not None else csv_path.parent)
    indices: dict[str, list[int]] = {column: [] for column in columns}
    for row, line in zip(table.rows, table.line_numbers, strict=True):
        for column in columns:
            indices[column].append(store.index_of(row.get(column), column, line))
    return TripletDataset(
        images=store.load(preprocessing, show_progress),
        anchor_index=torch.tensor(indices["anchor"], dtype=torch.int64),
        positive_index=torch.tensor(indices["positive"], dtype=torch.int64),
        negative_index=torch.tensor(indices["negative"], dtype=torch.int64),
        paths=[str(image) for image in store.paths],
        preprocessing=preprocessing,
    )
