"""The pair protocol: counts, determinism, validity, and CSV round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamkit.errors import DataError
from siamkit.evaluation import pairs
from siamkit.evaluation.pairs import all_same_pairs_and_sampled_different, load_pair_list, save_pair_list

THREE_CLASSES_OF_FOUR = np.repeat(np.array([0, 1, 2]), 4)


def check_pairs_are_valid(labels: np.ndarray, first: np.ndarray, second: np.ndarray, pair_labels: np.ndarray) -> None:
    assert np.all(first < second)
    assert np.array_equal(pair_labels, (labels[first] == labels[second]).astype(np.int64))
    codes = first * len(labels) + second
    assert len(np.unique(codes)) == len(codes), "a pair is repeated"


def test_three_classes_of_four_give_eighteen_same_pairs_and_as_many_different() -> None:
    first, second, pair_labels = all_same_pairs_and_sampled_different(THREE_CLASSES_OF_FOUR)
    assert int(pair_labels.sum()) == 3 * 6  # C(4, 2) = 6 per class
    assert int((pair_labels == 0).sum()) == 18
    check_pairs_are_valid(THREE_CLASSES_OF_FOUR, first, second, pair_labels)
    assert first.dtype == second.dtype == pair_labels.dtype == np.int64


def test_same_pairs_are_exactly_all_same_class_pairs() -> None:
    labels = np.array(["a", "b", "a", "c", "a", "b"])
    first, second, pair_labels = all_same_pairs_and_sampled_different(labels)
    same = {(int(i), int(j)) for i, j, label in zip(first, second, pair_labels, strict=True) if label == 1}
    expected = {(i, j) for i in range(6) for j in range(i + 1, 6) if labels[i] == labels[j]}
    assert same == expected  # (0,2), (0,4), (2,4), (1,5)


def test_explicit_number_of_different_pairs_and_all_of_them() -> None:
    _, _, pair_labels = all_same_pairs_and_sampled_different(THREE_CLASSES_OF_FOUR, n_different=5)
    assert int((pair_labels == 0).sum()) == 5
    # 12 items: 66 pairs, 18 same -> 48 different; asking for all of them returns each once.
    first, second, pair_labels = all_same_pairs_and_sampled_different(THREE_CLASSES_OF_FOUR, n_different=48)
    assert int((pair_labels == 0).sum()) == 48
    check_pairs_are_valid(THREE_CLASSES_OF_FOUR, first, second, pair_labels)


def test_same_seed_same_pairs_and_different_seed_different_sample() -> None:
    labels = np.repeat(np.arange(10), 5)
    first_run = all_same_pairs_and_sampled_different(labels, seed=7)
    second_run = all_same_pairs_and_sampled_different(labels, seed=7)
    other_seed = all_same_pairs_and_sampled_different(labels, seed=8)
    for first_array, second_array in zip(first_run, second_run, strict=True):
        assert np.array_equal(first_array, second_array)
    assert not np.array_equal(first_run[0], other_seed[0]) or not np.array_equal(first_run[1], other_seed[1])


def test_default_is_capped_when_fewer_different_pairs_exist() -> None:
    # Two classes of 5 and 1: 10 same pairs but only 5 different ones.
    labels = np.array([0, 0, 0, 0, 0, 1])
    _, _, pair_labels = all_same_pairs_and_sampled_different(labels)
    assert int(pair_labels.sum()) == 10
    assert int((pair_labels == 0).sum()) == 5


def test_rejection_sampling_path_gives_valid_distinct_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pairs, "_ENUMERATION_LIMIT", 10)
    labels = np.repeat(np.arange(20), 3)
    first, second, pair_labels = all_same_pairs_and_sampled_different(labels, n_different=500, seed=1)
    assert int((pair_labels == 0).sum()) == 500
    check_pairs_are_valid(labels, first, second, pair_labels)
    again = all_same_pairs_and_sampled_different(labels, n_different=500, seed=1)
    assert np.array_equal(first, again[0]) and np.array_equal(second, again[1])


@pytest.mark.parametrize(
    ("labels", "n_different", "message"),
    [
        (np.zeros(5, dtype=int), None, "two classes"),
        (np.arange(5), None, "at least two items"),
        (THREE_CLASSES_OF_FOUR, 49, "exceeds the 48"),
        (THREE_CLASSES_OF_FOUR, -1, "zero or more"),
        (THREE_CLASSES_OF_FOUR.reshape(3, 4), None, "1-D"),
    ],
)
def test_impossible_protocols_raise_data_error(labels: np.ndarray, n_different: int | None, message: str) -> None:
    with pytest.raises(DataError, match=message):
        all_same_pairs_and_sampled_different(labels, n_different=n_different)


def test_pair_list_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "protocol" / "pairs.csv"
    firsts = ["a/1.png", "b/with,comma.png", Path("c/3.png")]
    seconds = ["a/2.png", 'c/"quoted".png', "d/4.png"]
    written = save_pair_list(path, firsts, seconds, [1, 0, 0])
    assert written == path
    assert path.read_text().splitlines()[0] == "first,second,label"
    loaded_first, loaded_second, loaded_labels = load_pair_list(path)
    assert loaded_first == ["a/1.png", "b/with,comma.png", "c/3.png"]
    assert loaded_second == seconds
    assert loaded_labels.tolist() == [1, 0, 0]
    assert [entry.name for entry in tmp_path.joinpath("protocol").iterdir()] == ["pairs.csv"]  # no temp files left


def test_save_pair_list_rejects_bad_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="differ in length"):
        save_pair_list(tmp_path / "pairs.csv", ["a"], ["b", "c"], [1])
    with pytest.raises(DataError, match="1 \\(same\\) or 0"):
        save_pair_list(tmp_path / "pairs.csv", ["a"], ["b"], [2])
    assert not (tmp_path / "pairs.csv").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,label\nx,y,1\n", "header"),
        ("first,second,label\nx,y,2\n", ":2: expected"),
        ("first,second,label\nx,y,1\nx,y\n", ":3: expected"),
        ("first,second,label\n", "no pairs"),
    ],
)
def test_load_pair_list_rejects_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_pair_list(path)


def test_load_pair_list_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.csv"):
        load_pair_list(tmp_path / "missing.csv")
