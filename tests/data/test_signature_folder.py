"""Signature folders: genuine signatures labelled by writer, every forgery a class of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.data.signature_folder import SignatureDataset, load_signature_folder, signature_labels
from siamkit.errors import DataError

PREPROCESSING = PreprocessingConfig(image_size=(16, 24), invert=True)


def write_signature(path: Path, seed: int) -> None:
    """A light page with a few dark pixels ("ink")."""
    pixels = np.full((20, 30), 240, dtype=np.uint8)
    generator = np.random.default_rng(seed)
    pixels[generator.integers(0, 20, 12), generator.integers(0, 30, 12)] = 40
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def signature_folder(root: Path, genuine: int = 3, forgeries: int = 2, writers: tuple[str, ...] = ("1", "2")) -> Path:
    for writer in writers:
        for number in range(1, genuine + 1):
            write_signature(root / "cedar" / writer / f"original_{writer}_{number}.png", seed=number)
        for number in range(1, forgeries + 1):
            write_signature(root / "cedar" / writer / f"forgeries_{writer}_{number}.png", seed=100 + number)
    return root


def test_genuine_signatures_are_labelled_by_writer_and_each_forgery_has_its_own_class(tmp_path: Path) -> None:
    dataset = load_signature_folder(signature_folder(tmp_path), PREPROCESSING)
    assert isinstance(dataset, SignatureDataset)
    assert dataset.writer_names == ["1", "2"]
    assert len(dataset) == 10
    names = [Path(path).name for path in dataset.paths]
    genuine = [name.startswith("original_") for name in names]
    assert dataset.genuine.tolist() == genuine
    assert dataset.writers.tolist() == [0] * 5 + [1] * 5
    genuine_labels = dataset.labels[dataset.genuine].tolist()
    forgery_labels = dataset.labels[~dataset.genuine].tolist()
    assert genuine_labels == [0, 0, 0, 1, 1, 1]
    # Every forgery has a label of its own, above the writers, so it is never a positive of anything.
    assert len(set(forgery_labels)) == 4 and min(forgery_labels) >= 2
    assert dataset.num_classes == 6
    for index in torch.nonzero(~dataset.genuine).flatten().tolist():
        label = int(dataset.labels[index])
        assert int((dataset.labels == label).sum()) == 1
        assert (
            dataset.class_names[label]
            == f"{dataset.writer_names[int(dataset.writers[index])]}/{Path(names[index]).stem}"
        )


def test_signature_labels_by_hand() -> None:
    writers = torch.tensor([0, 0, 1, 1, 0])
    genuine = torch.tensor([True, False, True, False, False])
    assert signature_labels(writers, genuine, first_forgery_label=2).tolist() == [0, 2, 1, 3, 4]


def test_a_writer_with_one_genuine_signature_is_an_error(tmp_path: Path) -> None:
    signature_folder(tmp_path, writers=("1",))
    signature_folder(tmp_path, genuine=1, writers=("2",))
    with pytest.raises(DataError, match="writer '2' has 1 genuine"):
        load_signature_folder(tmp_path / "cedar", PREPROCESSING)


def test_a_file_name_that_is_neither_genuine_nor_forgery_is_an_error(tmp_path: Path) -> None:
    signature_folder(tmp_path)
    write_signature(tmp_path / "cedar" / "1" / "scan_1_7.png", seed=7)
    with pytest.raises(DataError, match=r"scan_1_7\.png"):
        load_signature_folder(tmp_path, PREPROCESSING)
