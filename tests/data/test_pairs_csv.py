"""Pair and triplet CSV files: paths, deduplicated decoding, targets and every kind of bad row."""

from __future__ import annotations

import pytest
import torch

from siamkit.data import PreprocessingConfig, read_pairs_csv, read_triplets_csv
from siamkit.errors import DataError

CONFIG = PreprocessingConfig(image_size=(6, 6))


@pytest.fixture
def images(tmp_path, write_image):
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        write_image(tmp_path / "images" / f"{name}.png", seed=seed)
    return tmp_path / "images"


def test_pairs_are_read_and_each_image_decoded_once(tmp_path, images):
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("first,second,label,note\nimages/a.png,images/b.png,0,x\n\nimages/a.png,images/a.png,1,y\n")
    pairs = read_pairs_csv(csv_path, CONFIG)
    assert len(pairs) == 2 and pairs.target_kind == "label"
    assert pairs.images.shape == (2, 1, 6, 6)  # a.png once, b.png once
    assert pairs.first_index.tolist() == [0, 0] and pairs.second_index.tolist() == [1, 0]
    assert pairs.labels.tolist() == [0.0, 1.0] and pairs.labels.dtype == torch.float32
    assert pairs.paths == [str(tmp_path / "images" / "a.png"), str(tmp_path / "images" / "b.png")]


def test_paths_relative_to_root_and_distance_targets(tmp_path, images):
    elsewhere = tmp_path / "lists"
    elsewhere.mkdir()
    (elsewhere / "pairs.csv").write_text("first,second,distance\na.png,c.png,0.75\nb.png,c.png,2\n")
    pairs = read_pairs_csv(elsewhere / "pairs.csv", CONFIG, root=images)
    assert pairs.target_kind == "distance" and pairs.labels.tolist() == [0.75, 2.0]
    assert pairs.images.shape[0] == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"pairs\.csv: the CSV is empty"),
        ("first,second,label\n", r"pairs\.csv: the CSV has a header but no rows"),
        ("first,label\nimages/a.png,1\n", r"pairs\.csv: missing column 'second'"),
        ("first,second\nimages/a.png,images/b.png\n", r"pairs\.csv: missing column 'label' \(or 'distance'\)"),
        ("first,second,label\nimages/a.png,images/b.png,1\nimages/a.png,images/b.png,2\n", r"line 3: label must be 0"),
        ("first,second,label\nimages/a.png,images/b.png,yes\n", r"line 2: label must be 0 \(different\) or 1"),
        ("first,second,distance\nimages/a.png,images/b.png,-1\n", r"line 2: distance must be a non-negative"),
        ("first,second,label\nimages/a.png,,1\n", r"line 2: column 'second' is empty"),
        (
            "first,second,label\nimages/a.png,images/b.png,1\nimages/a.png,images/zz.png,0\n",
            r"line 3: no such file .*zz\.png",
        ),
    ],
)
def test_bad_pair_files_name_the_line_or_field(tmp_path, images, text, message):
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_pairs_csv(csv_path, CONFIG)


def test_an_undecodable_image_is_named(tmp_path, images):
    (images / "bad.png").write_text("text")
    (tmp_path / "pairs.csv").write_text("first,second,label\nimages/a.png,images/bad.png,1\n")
    with pytest.raises(DataError, match=r"bad\.png: not an image Pillow can read"):
        read_pairs_csv(tmp_path / "pairs.csv", CONFIG)
    with pytest.raises(DataError, match=r"missing\.csv: no such file"):
        read_pairs_csv(tmp_path / "missing.csv", CONFIG)


def test_triplets(tmp_path, images):
    csv_path = tmp_path / "triplets.csv"
    csv_path.write_text(
        "anchor,positive,negative\nimages/a.png,images/b.png,images/c.png\nimages/b.png,images/a.png,images/c.png\n"
    )
    triplets = read_triplets_csv(csv_path, CONFIG)
    assert len(triplets) == 2 and triplets.images.shape == (3, 1, 6, 6)
    assert triplets.anchor_index.tolist() == [0, 1]
    assert triplets.positive_index.tolist() == [1, 0]
    assert triplets.negative_index.tolist() == [2, 2]
    csv_path.write_text("anchor,positive\nimages/a.png,images/b.png\n")
    with pytest.raises(DataError, match=r"triplets\.csv: missing column 'negative'"):
        read_triplets_csv(csv_path, CONFIG)
