"""The SigNet protocol pairs each writer's genuine signatures together and with that writer's forgeries only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from siamkit.data.image_folder import scan_image_folder
from siamkit.errors import DataError
from siamkit.evaluation.signature_protocol import is_genuine_signature, signature_pairs


def synthetic_listing() -> tuple[list[str], list[int]]:
    """2 writers x (3 genuine + 2 forgeries), interleaved and in mixed case, as a loader might list them."""
    paths = [
        "data/w1/forgeries_1_1.png",
        "data/w1/original_1_1.png",
        "data/w1/Original_1_2.PNG",
        "data/w1/FORGERIES_1_2.png",
        "data/w1/original_1_3.png",
        "data/w2/original_2_1.png",
        "data/w2/original_2_2.png",
        "data/w2/forgeries_2_1.png",
        "data/w2/original_2_3.png",
        "data/w2/forgeries_2_2.png",
    ]
    return paths, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_genuine_or_forgery_is_read_from_the_file_name() -> None:
    assert is_genuine_signature("cedar/3/original_3_1.png")
    assert is_genuine_signature("C:\\cedar\\3\\ORIGINAL_3_1.png")
    assert not is_genuine_signature("cedar/3/forgeries_3_1.png")
    # A folder named like a prefix does not count: only the file name does.
    with pytest.raises(DataError, match=r"original_x/scan_1\.png.*original_.*forgeries_"):
        is_genuine_signature("original_x/scan_1.png")


def test_synthetic_pairs_match_a_hand_written_list() -> None:
    paths, labels = synthetic_listing()
    first, second, pair_labels = signature_pairs(paths, labels)
    pairs = list(zip(first.tolist(), second.tolist(), pair_labels.tolist(), strict=True))
    expected_same = [(1, 2, 1), (1, 4, 1), (2, 4, 1), (5, 6, 1), (5, 8, 1), (6, 8, 1)]
    expected_different = [
        (1, 0, 0), (1, 3, 0), (2, 0, 0), (2, 3, 0), (4, 0, 0), (4, 3, 0),
        (5, 7, 0), (5, 9, 0), (6, 7, 0), (6, 9, 0), (8, 7, 0), (8, 9, 0),
    ]  # fmt: skip
    assert pairs == expected_same + expected_different
    assert first.dtype == second.dtype == pair_labels.dtype == np.int64
    # Every pair stays within one writer and its first item is always genuine.
    assert all(labels[i] == labels[j] for i, j in zip(first.tolist(), second.tolist(), strict=True))
    assert all(is_genuine_signature(paths[i]) for i in first.tolist())


def test_order_depends_only_on_the_input() -> None:
    paths, labels = synthetic_listing()
    first_run = signature_pairs(paths, np.asarray(labels))
    second_run = signature_pairs(list(paths), labels)
    for one, other in zip(first_run, second_run, strict=True):
        np.testing.assert_array_equal(one, other)


def test_string_writer_labels_work() -> None:
    paths, labels = synthetic_listing()
    _, _, pair_labels = signature_pairs(paths, np.array(["w" + str(label) for label in labels]))
    assert Counter(pair_labels.tolist()) == {1: 6, 0: 12}


def test_bad_input_raises_one_line_errors() -> None:
    paths, labels = synthetic_listing()
    with pytest.raises(DataError, match=r"data/w2/scan_9\.png: cannot tell"):
        signature_pairs([*paths, "data/w2/scan_9.png"], [*labels, 1])
    with pytest.raises(DataError, match="differ in length"):
        signature_pairs(paths, labels[:-1])
    with pytest.raises(DataError, match="forgeries_"):
        signature_pairs(["a/original_1.png", "a/original_2.png"], [0, 0])
    with pytest.raises(DataError, match="two genuine"):
        signature_pairs(["a/original_1.png", "a/forgeries_1.png", "b/original_1.png"], [0, 0, 1])


def test_real_cedar_listing_gives_276_same_and_576_different_pairs_per_writer(shared_data: Path) -> None:
    archive = shared_data / "cedar" / "cedar_dev.zip"
    if not archive.is_file():
        pytest.skip(f"needs {archive}, which is absent")
    # The loader's listing (nothing decoded): its class of a forgery is the writer it imitates.
    listing = scan_image_folder(archive)
    paths = listing.paths
    writers = [listing.class_names[label] for label in listing.labels]
    first, second, pair_labels = signature_pairs(paths, writers)
    writer_of_pair = np.array(writers)[first]
    assert len(set(writers)) == 45
    same_per_writer = Counter(writer_of_pair[pair_labels == 1].tolist())
    different_per_writer = Counter(writer_of_pair[pair_labels == 0].tolist())
    assert len(same_per_writer) == len(different_per_writer) == 45
    assert set(same_per_writer.values()) == {276}
    assert set(different_per_writer.values()) == {576}
    assert pair_labels.shape[0] == 45 * (276 + 576)
    different = pair_labels == 0
    assert all(Path(paths[index]).name.startswith("original_") for index in first.tolist())
    assert all(Path(paths[index]).name.startswith("forgeries_") for index in second[different].tolist())
    assert (np.array(writers)[second] == writer_of_pair).all()
