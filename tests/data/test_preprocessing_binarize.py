"""`binarize`: Otsu's threshold checked by hand, and a grey scan and a binary copy of it come out the same."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from siamkit.data.preprocessing import PreprocessingConfig, image_to_array, otsu_threshold
from siamkit.errors import ConfigError


def brute_force_otsu(grey: np.ndarray) -> int:
    """Otsu written out: try every split, keep the first with the largest between-class variance."""
    values = grey.astype(np.float64).ravel()
    best_level, best_variance = 0, -1.0
    for level in range(256):
        dark, light = values[values <= level], values[values > level]
        if len(dark) == 0 or len(light) == 0:
            continue
        variance = len(dark) * len(light) * (dark.mean() - light.mean()) ** 2
        if variance > best_variance + 1e-9:
            best_level, best_variance = level, variance
    return best_level


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_otsu_threshold_matches_a_brute_force_search(seed: int) -> None:
    generator = np.random.default_rng(seed)
    ink = generator.normal(60, 20, size=150)
    paper = generator.normal(220, 10, size=850)
    grey = np.clip(np.concatenate([ink, paper]), 0, 255).astype(np.uint8).reshape(25, 40)
    threshold = otsu_threshold(grey)
    assert threshold == brute_force_otsu(grey)
    assert 60 < threshold < 220


def test_two_level_image_splits_between_the_levels() -> None:
    grey = np.array([[10, 10, 200, 200, 200]], dtype=np.uint8)
    assert 10 <= otsu_threshold(grey) < 200


def stroke_page(ink: np.ndarray, paper: int) -> Image.Image:
    pixels = np.full((24, 36), paper, dtype=np.uint8)
    pixels[4:20, 8:12] = ink
    pixels[10:14, 12:30] = int(ink.mean())
    return Image.fromarray(pixels)


def test_grey_ink_and_its_binary_copy_give_the_same_array() -> None:
    generator = np.random.default_rng(0)
    grey_ink = generator.integers(40, 140, size=(16, 4)).astype(np.uint8)
    grey_scan = stroke_page(grey_ink, paper=235)
    config = PreprocessingConfig(
        image_size=(24, 36), binarize=True, remove_background=True, crop_to_ink=True, keep_aspect=True, invert=True
    )
    from_grey = image_to_array(grey_scan, config)
    pixels = np.asarray(grey_scan)
    binary_copy = Image.fromarray(np.where(pixels < 180, 0, 255).astype(np.uint8)).convert("1")
    from_binary = image_to_array(binary_copy, config)
    assert np.array_equal(from_grey, from_binary)
    assert from_grey.max() == 255 and from_grey.min() == 0  # inverted: ink bright, paper black


def test_binarize_gives_pure_ink_and_paper_without_resizing() -> None:
    grey_ink = np.linspace(30, 150, 64).astype(np.uint8).reshape(16, 4)
    config = PreprocessingConfig(image_size=(24, 36), binarize=True)
    result = image_to_array(stroke_page(grey_ink, paper=230), config)
    assert set(np.unique(result).tolist()) == {0, 255}
    assert (result[0, 4:20, 8:12] == 0).all() and result[0, 0, 0] == 255


def test_colour_images_binarize_every_channel_alike() -> None:
    pixels = np.full((24, 36, 3), (230, 225, 220), dtype=np.uint8)
    pixels[4:20, 8:12] = (20, 30, 90)
    config = PreprocessingConfig(image_size=(24, 36), channels=3, binarize=True)
    result = image_to_array(Image.fromarray(pixels), config)
    assert (result[:, 4:20, 8:12] == 0).all() and (result[:, 0, 0] == 255).all()


def test_blank_page_is_left_alone_and_option_is_off_by_default() -> None:
    assert PreprocessingConfig().binarize is False
    blank = Image.fromarray(np.full((24, 36), 240, dtype=np.uint8))
    assert (image_to_array(blank, PreprocessingConfig(image_size=(24, 36), binarize=True)) == 240).all()


def test_option_is_saved_only_when_on_and_refused_with_face_alignment() -> None:
    assert "binarize" not in PreprocessingConfig().to_dict()
    saved = PreprocessingConfig(binarize=True).to_dict()
    assert saved["binarize"] is True and PreprocessingConfig.from_dict(saved).binarize is True
    with pytest.raises(ConfigError, match="binarize"):
        PreprocessingConfig(image_size=(150, 150), channels=3, align_faces=True, binarize=True)
