"""Decoding one image: modes, resizing, inversion, and the fast path agreeing with the general one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamkit.data import PreprocessingConfig, load_image_array
from siamkit.data.preprocessing import image_to_array
from siamkit.errors import ConfigError, DataError


def test_fast_path_matches_keep_aspect_when_no_padding_is_needed():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30), dtype=np.uint8))
    plain = image_to_array(image, PreprocessingConfig(image_size=(10, 15), invert=True))
    padded = image_to_array(image, PreprocessingConfig(image_size=(10, 15), invert=True, keep_aspect=True))
    assert plain.shape == (1, 10, 15) and plain.dtype == np.uint8
    np.testing.assert_array_equal(plain, padded)


def test_invert_and_colour_channels():
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    colour = load_image_array(rgb, PreprocessingConfig(image_size=(4, 4), channels=3))
    assert colour.shape == (3, 4, 4) and colour[0].min() == 255 and colour[1].max() == 0
    inverted = load_image_array(
        np.full((4, 4), 10, dtype=np.uint8), PreprocessingConfig(image_size=(2, 2), invert=True)
    )
    assert (inverted == 245).all()


def test_crop_to_ink_and_keep_aspect_still_work():
    page = np.full((40, 60), 255, dtype=np.uint8)
    page[10:20, 20:30] = 0  # a square of ink on white paper
    cropped = load_image_array(page, PreprocessingConfig(image_size=(10, 10), crop_to_ink=True))
    assert cropped.max() < 64  # all ink after cropping
    padded = load_image_array(page[:, :20], PreprocessingConfig(image_size=(10, 10), keep_aspect=True))
    assert padded[0, :, 0].min() == 255  # padded with the white background


def test_bad_bytes_are_named():
    with pytest.raises(DataError, match=r"^scan\.png: not an image Pillow can read"):
        load_image_array(b"plain text", PreprocessingConfig(), name="scan.png")


def test_a_missing_path_and_a_folder_are_told_apart(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.png: no such file$"):
        load_image_array(tmp_path / "missing.png", PreprocessingConfig())
    with pytest.raises(DataError, match=r": a folder, not an image file$"):
        load_image_array(tmp_path, PreprocessingConfig())


@pytest.mark.parametrize("size", ["40", (40,), (40.0, 40), (True, 3)])
def test_an_image_size_that_is_not_two_whole_numbers_is_named(size: object) -> None:
    with pytest.raises(ConfigError, match="image_size must be two whole numbers"):
        PreprocessingConfig(image_size=size)  # type: ignore[arg-type]
