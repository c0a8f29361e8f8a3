"""Bulk decoding: serial, thread and process paths agree, zip members are read in place, errors name the file."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from siamkit.data import PreprocessingConfig, ZipMember, decoding, load_image_array, load_image_arrays
from siamkit.errors import DataError

CONFIG = PreprocessingConfig(image_size=(6, 5), invert=True)


@pytest.fixture
def image_files(tmp_path, write_image):
    return [write_image(tmp_path / f"{index}.png", seed=index) for index in range(300)]


def test_every_path_gives_the_same_array(image_files, monkeypatch):
    expected = np.stack([load_image_array(path, CONFIG) for path in image_files])
    serial = load_image_arrays(image_files, CONFIG, workers=1)
    threads = load_image_arrays(image_files, CONFIG, workers=2)
    monkeypatch.setattr(decoding, "_PROCESS_THRESHOLD", 0)
    processes = load_image_arrays(image_files, CONFIG, workers=2)
    assert serial.dtype == np.uint8 and serial.shape == (300, 1, 6, 5)
    np.testing.assert_array_equal(serial, expected)
    np.testing.assert_array_equal(threads, expected)
    np.testing.assert_array_equal(processes, expected)


def test_zip_members_are_read_in_place(tmp_path, image_files, monkeypatch):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as output:
        for path in image_files:
            output.write(path, f"inner/{path.name}")
    members = [ZipMember(str(archive), f"inner/{path.name}") for path in image_files]
    expected = load_image_arrays(image_files, CONFIG, workers=1)
    np.testing.assert_array_equal(load_image_arrays(members, CONFIG, workers=2), expected)
    monkeypatch.setattr(decoding, "_PROCESS_THRESHOLD", 0)
    np.testing.assert_array_equal(load_image_arrays(members, CONFIG, workers=2), expected)


@pytest.mark.parametrize("use_processes", [False, True])
def test_the_first_bad_image_is_named(image_files, monkeypatch, use_processes):
    if use_processes:
        monkeypatch.setattr(decoding, "_PROCESS_THRESHOLD", 0)
    image_files[270].write_bytes(b"not a png")
    image_files[290].write_bytes(b"")
    with pytest.raises(DataError, match=r"270\.png: not an image Pillow can read"):
        load_image_arrays(image_files, CONFIG, workers=2)


def test_names_label_errors_and_must_match_sources(image_files):
    image_files[0].write_bytes(b"")
    with pytest.raises(DataError, match=r"^archive\.zip/first\.png: the file is empty"):
        load_image_arrays(image_files[:2], CONFIG, names=["archive.zip/first.png", "second"], workers=1)
    with pytest.raises(ValueError, match="2 sources but 1 names"):
        load_image_arrays(image_files[:2], CONFIG, names=["one"])


def test_progress_bar_does_not_change_the_result(image_files):
    shown = load_image_arrays(image_files[:10], CONFIG, show_progress=True)
    np.testing.assert_array_equal(shown, load_image_arrays(image_files[:10], CONFIG))


def test_an_unreadable_zip_member_is_named(tmp_path, image_files):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as output:
        output.write(image_files[0], "a.png")
    members = [ZipMember(str(archive), "a.png"), ZipMember(str(archive), "gone.png")]
    with pytest.raises(DataError, match=r"images\.zip/gone\.png: cannot read it from the zip"):
        load_image_arrays(members, CONFIG, workers=1)
