"""Labelled feature vectors (`.npy`, `.npz` or `.csv`), for Siamese networks over tabular or precomputed features.

Files are read with `allow_pickle=False`: a data file can never run code.
"""

from __future__ import annotations

import csv
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from siamkit.data.class_split import as_index, choose_held_out_classes, natural_sort_key, relabel, resolve_classes
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import DataError


@dataclass
class VectorDataset:
    """Vectors of labelled classes.

    Attributes:
        vectors: `(N, L)` `float32`, all finite.
        labels: `(N,)` `int64` class index of each vector, into `class_names`.
        class_names: Name of each class (the file's labels as text, in natural order).
    """

    vectors: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]

    def __post_init__(self) -> None:
        if self.vectors.dtype != torch.float32 or self.vectors.ndim != 2:
            raise ValueError(f"vectors must be float32 (N, L), got {self.vectors.dtype} {tuple(self.vectors.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.vectors.shape[0],):
            raise ValueError(f"labels must be int64 ({self.vectors.shape[0]},), got {tuple(self.labels.shape)}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def vector_length(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def preprocessing(self) -> PreprocessingConfig:
        """The preprocessing to store in a model bundle: vectors of this length, used as they are."""
        return PreprocessingConfig(kind="vector", vector_length=self.vector_length)

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def subset(self, indices: Sequence[int] | torch.Tensor) -> VectorDataset:
        """The vectors at `indices` (or where a boolean mask is true), keeping class names and label numbers."""
        index = as_index(indices)
        return VectorDataset(self.vectors[index], self.labels[index], list(self.class_names))

    def select_classes(self, classes: Sequence[int | str]) -> VectorDataset:
        """Only the vectors of `classes` (indices or names), relabelled 0..k-1 in the order given."""
        kept = resolve_classes(self.class_names, classes)
        keep, labels = relabel(self.labels, kept, self.num_classes)
        return VectorDataset(self.vectors[keep], labels, [self.class_names[i] for i in kept])

    def split_by_class(self, held_out: float | Sequence[str], seed: int = 0) -> tuple[VectorDataset, VectorDataset]:
        """Splits whole classes into `(train, held_out)`: a fraction chosen at random, or class names."""
        held = choose_held_out_classes(self.class_names, held_out, seed)
        kept = [index for index in range(self.num_classes) if index not in set(held)]
        return self.select_classes(kept), self.select_classes(held)


def _check_vectors(array: np.ndarray, source: str) -> np.ndarray:
    if array.ndim != 2:
        raise DataError(f"{source}: vectors must be a 2-D array (rows x features), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{source}: no vectors (shape {array.shape})")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise DataError(f"{source}: vectors must be real numbers, got dtype {array.dtype}")
    vectors = array.astype(np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise DataError(f"{source}: row {row} (from 0) has a NaN or infinite value (or one too big for float32)")
    return vectors


def _encode_labels(raw: np.ndarray | Sequence[str], source: str) -> tuple[np.ndarray, list[str]]:
    """Numbers the distinct labels in natural order (so integer labels 0..k-1 keep their numbers)."""
    array = np.asarray(raw)
    if array.ndim != 1:
        raise DataError(f"{source}: labels must be one-dimensional, got shape {array.shape}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.all(array == np.round(array)):
            raise DataError(f"{source}: labels must be integers or text, got non-integer numbers")
        array = array.astype(np.int64)
    if array.dtype.kind in "iub":
        distinct, codes = np.unique(array, return_inverse=True)
        return codes.astype(np.int64), [str(value) for value in distinct.tolist()]
    if array.dtype.kind not in "US":
        raise DataError(f"{source}: labels must be integers or text, got dtype {array.dtype}")
    text = [value.decode() if isinstance(value, bytes) else str(value) for value in array.tolist()]
    names = sorted(set(text), key=natural_sort_key)
    position = {name: index for index, name in enumerate(names)}
    return np.array([position[value] for value in text], dtype=np.int64), names


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        raise DataError(f"{path}: not a plain numeric .npy array ({error})") from None
    except OSError as error:
        raise DataError(f"{path}: not a readable .npy file ({error})") from None


def _load_labels_file(path: Path) -> np.ndarray | list[str]:
    if not path.is_file():
        raise DataError(f"{path}: no such labels file")
    if path.suffix.lower() == ".npy":
        return _load_npy(path)
    if path.suffix.lower() == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    raise DataError(f"{path}: labels must be a .npy array or a .txt file with one label per line")


def _parse_number(cell: str, column: str, path: Path, line: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{path}: line {line}: column {column!r} is not a number: {cell!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}: column {column!r} is {cell.strip()} (not finite)")
    return value


def _load_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if not header:
                raise DataError(f"{path}: the CSV is empty (expected a header with a 'label' column)")
            header = [name.strip() for name in header]
            if "label" not in header:
                raise DataError(f"{path}: missing column 'label' (the header has: {', '.join(header[:10])})")
            label_column = header.index("label")
            rows: list[list[float]] = []
            labels: list[str] = []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if len(row) != len(header):
                    raise DataError(f"{path}: line {line} has {len(row)} values but the header has {len(header)}")
                values = [
                    _parse_number(cell, header[column], path, line)
                    for column, cell in enumerate(row)
                    if column != label_column
                ]
                if not row[label_column].strip():
                    raise DataError(f"{path}: line {line}: the label is empty")
                rows.append(values)
                labels.append(row[label_column].strip())
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text CSV") from None
    except csv.Error as error:
        raise DataError(f"{path}: malformed CSV ({error})") from None
    if not rows:
        raise DataError(f"{path}: the CSV has a header but no rows")
    if len(header) < 2:
        raise DataError(f"{path}: the CSV has a 'label' column but no value columns")
    return np.array(rows, dtype=np.float64), labels


def load_vectors(path: str | Path, labels_path: str | Path | None = None) -> VectorDataset:
    """Loads labelled vectors.

    Formats:
        `.npy`: a 2-D array; its labels come from `labels_path` (a 1-D `.npy` or a `.txt`, one per line).
        `.npz`: arrays `vectors` and `labels`.
        `.csv`: a header with a `label` column; every other column is a numeric feature.
    Labels may be integers or text; `class_names` are the distinct labels as text, in natural order.

    Args:
        path: The vectors file.
        labels_path: Labels for a `.npy` (or, for any format, labels that replace the file's own).

    Raises:
        DataError: naming the file and the problem: not 2-D, ragged CSV rows or a non-number (with the line),
            NaN or infinite values (with the row), a missing array or column, or as many labels as vectors.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{source}: no such file")
    suffix = source.suffix.lower()
    raw_labels: np.ndarray | Sequence[str] | None = None
    if suffix == ".npy":
        array = _load_npy(source)
    elif suffix == ".npz":
        try:
            with np.load(source, allow_pickle=False) as archive:
                if "vectors" not in archive.files:
                    raise DataError(f"{source}: missing array 'vectors' (the file has: {', '.join(archive.files)})")
                array = archive["vectors"]
                if "labels" in archive.files:
                    raw_labels = archive["labels"]
                elif labels_path is None:
                    raise DataError(f"{source}: missing array 'labels' (the file has: {', '.join(archive.files)})")
        except DataError:
            raise
        except (ValueError, OSError, zipfile.BadZipFile) as error:
            raise DataError(f"{source}: not a readable .npz of plain arrays ({error})") from None
    elif suffix == ".csv":
        array, raw_labels = _load_csv(source)
    else:
        raise DataError(f"{source}: vectors must be a .npy, .npz or .csv file")
    vectors = _check_vectors(array, str(source))
    labels_source = str(source)
    if labels_path is not None:
        raw_labels = _load_labels_file(Path(labels_path))
        labels_source = str(labels_path)
    if raw_labels is None:
        raise DataError(f"{source}: a .npy file holds only vectors; give labels_path (a .npy or .txt of labels)")
    codes, class_names = _encode_labels(raw_labels, labels_source)
    if len(codes) != len(vectors):
        raise DataError(f"{labels_source}: {len(codes)} labels for {len(vectors)} vectors in {source}")
    return VectorDataset(torch.from_numpy(vectors), torch.from_numpy(codes), class_names)


def read_single_vector(path: str | Path) -> np.ndarray:
    """Reads one input vector for inference: a `.npy` of shape `(L,)` or `(1, L)`, or a text file (`.csv`,
    `.txt`) of numbers separated by commas, spaces or new lines.

    Returns:
        The `(L,)` `float32` vector.

    Raises:
        DataError: naming the file: missing, unreadable, not one vector, or holding a non-number, NaN or inf.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{source}: no such file")
    if source.suffix.lower() == ".npy":
        array = _load_npy(source)
    else:
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{source}: expected a .npy file or a text file of numbers") from None
        cells = text.replace(",", " ").split()
        array = np.array([_parse_number(cell, "value", source, 1) for cell in cells], dtype=np.float64)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1 or array.size == 0:
        raise DataError(f"{source}: expected one vector, shape (L,) or (1, L), got shape {array.shape}")
    return _check_vectors(array[None], str(source))[0]
