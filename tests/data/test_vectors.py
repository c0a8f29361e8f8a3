"""Labelled vectors from .npy, .npz and .csv, and every malformed input naming where it is wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamkit.data import VectorDataset, load_vectors, read_single_vector
from siamkit.errors import DataError

VECTORS = np.arange(12, dtype=np.float64).reshape(4, 3)


def test_npy_with_a_labels_file(tmp_path):
    np.save(tmp_path / "x.npy", VECTORS)
    np.save(tmp_path / "y.npy", np.array([3, 7, 3, 7]))
    dataset = load_vectors(tmp_path / "x.npy", tmp_path / "y.npy")
    assert dataset.vectors.dtype == torch.float32 and dataset.vectors.shape == (4, 3)
    assert torch.equal(dataset.vectors, torch.tensor(VECTORS, dtype=torch.float32))
    assert dataset.labels.tolist() == [0, 1, 0, 1] and dataset.class_names == ["3", "7"]
    assert dataset.preprocessing.kind == "vector" and dataset.preprocessing.input_shape == (3,)
    (tmp_path / "y.txt").write_text("cat\ndog\ncat\nbird\n")
    assert load_vectors(tmp_path / "x.npy", tmp_path / "y.txt").class_names == ["bird", "cat", "dog"]


def test_npz_and_csv(tmp_path):
    np.savez(tmp_path / "data.npz", vectors=VECTORS, labels=np.array([0, 1, 2, 1]))
    from_npz = load_vectors(tmp_path / "data.npz")
    assert from_npz.labels.tolist() == [0, 1, 2, 1] and from_npz.num_classes == 3
    (tmp_path / "data.csv").write_text("f1,label,f2\n1.5,s10,2\n-3,s2,4e-1\n\n0,s2,0\n")
    from_csv = load_vectors(tmp_path / "data.csv")
    assert from_csv.vectors.tolist() == [[1.5, 2.0], [-3.0, pytest.approx(0.4)], [0.0, 0.0]]
    assert from_csv.class_names == ["s2", "s10"] and from_csv.labels.tolist() == [1, 0, 0]


def test_subset_select_and_split():
    dataset = VectorDataset(torch.arange(12.0).view(6, 2), torch.tensor([0, 0, 1, 1, 2, 2]), ["a", "b", "c"])
    assert dataset.subset([5, 0]).labels.tolist() == [2, 0]
    assert dataset.select_classes(["c"]).vectors.tolist() == [[8.0, 9.0], [10.0, 11.0]]
    train, held = dataset.split_by_class(["b"])
    assert train.class_names == ["a", "c"] and held.class_names == ["b"] and len(train) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,label\n1,2,x\n3,4\n", r"data\.csv: line 3 has 2 values but the header has 3"),
        ("a,b,label\n1,2,x\n3,nan,y\n", r"data\.csv: line 3: column 'b' is nan \(not finite\)"),
        ("a,b,label\n1,inf,x\n", r"line 2: column 'b' is inf"),
        ("a,b,label\n1,two,x\n", r"line 2: column 'b' is not a number: 'two'"),
        ("a,b\n1,2\n", r"data\.csv: missing column 'label'"),
        ("", r"data\.csv: the CSV is empty"),
        ("a,label\n", r"data\.csv: the CSV has a header but no rows"),
        ("a,label\n1,\n", r"line 2: the label is empty"),
    ],
)
def test_bad_csv_rows_are_named(tmp_path, text, message):
    (tmp_path / "data.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        load_vectors(tmp_path / "data.csv")


def test_bad_arrays_are_named(tmp_path):
    bad = VECTORS.copy()
    bad[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", vectors=bad, labels=np.zeros(4))
    with pytest.raises(DataError, match=r"nan\.npz: row 2 \(from 0\) has a NaN or infinite value"):
        load_vectors(tmp_path / "nan.npz")
    np.save(tmp_path / "flat.npy", np.zeros(5))
    np.save(tmp_path / "labels.npy", np.zeros(5, dtype=np.int64))
    with pytest.raises(DataError, match=r"flat\.npy: vectors must be a 2-D array .* got shape \(5,\)"):
        load_vectors(tmp_path / "flat.npy", tmp_path / "labels.npy")
    np.save(tmp_path / "x.npy", VECTORS)
    with pytest.raises(DataError, match=r"labels\.npy: 5 labels for 4 vectors"):
        load_vectors(tmp_path / "x.npy", tmp_path / "labels.npy")
    with pytest.raises(DataError, match=r"x\.npy: a \.npy file holds only vectors; give labels_path"):
        load_vectors(tmp_path / "x.npy")
    np.savez(tmp_path / "nolabels.npz", vectors=VECTORS)
    with pytest.raises(DataError, match=r"nolabels\.npz: missing array 'labels'"):
        load_vectors(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "novectors.npz", features=VECTORS)
    with pytest.raises(DataError, match=r"novectors\.npz: missing array 'vectors' \(the file has: features\)"):
        load_vectors(tmp_path / "novectors.npz")
    np.save(tmp_path / "objects.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"objects\.npy: not a plain numeric \.npy array"):
        load_vectors(tmp_path / "objects.npy", tmp_path / "labels.npy")
    np.save(tmp_path / "fractional.npy", np.array([0.5, 1, 2, 3]))
    with pytest.raises(DataError, match=r"fractional\.npy: labels must be integers or text"):
        load_vectors(tmp_path / "x.npy", tmp_path / "fractional.npy")
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(DataError, match=r"must be a \.npy, \.npz or \.csv file"):
        load_vectors(tmp_path / "x.parquet")


def test_read_single_vector(tmp_path):
    np.save(tmp_path / "one.npy", np.array([[1.0, 2.0, 3.0]]))
    assert read_single_vector(tmp_path / "one.npy").tolist() == [1.0, 2.0, 3.0]
    (tmp_path / "one.txt").write_text("1, 2.5\n-3\n")
    vector = read_single_vector(tmp_path / "one.txt")
    assert vector.dtype == np.float32 and vector.tolist() == [1.0, 2.5, -3.0]
    np.save(tmp_path / "many.npy", VECTORS)
    with pytest.raises(
        DataError, match=r"many\.npy: expected one vector, shape \(L,\) or \(1, L\), got shape \(4, 3\)"
    ):
        read_single_vector(tmp_path / "many.npy")
    (tmp_path / "bad.txt").write_text("1 nan")
    with pytest.raises(DataError, match=r"bad\.txt: line 1: column 'value' is nan"):
        read_single_vector(tmp_path / "bad.txt")
