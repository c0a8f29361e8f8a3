"""`remove_background`: scans on grey and on white paper, with lighter or darker ink, come out alike."""

from __future__ import annotations

import numpy as np
from PIL import Image

from siamkit.data.preprocessing import PreprocessingConfig, image_to_array


def page(paper: int, ink: int, faint: int | None = None) -> Image.Image:
    pixels = np.full((20, 30), paper, dtype=np.uint8)
    pixels[5:15, 10:12] = ink  # a stroke: 20 of 600 pixels
    if faint is not None:
        pixels[2, 2] = faint  # a speck barely darker than the paper
    return Image.fromarray(pixels)


def test_paper_becomes_white_and_ink_black_whatever_the_scan() -> None:
    config = PreprocessingConfig(image_size=(20, 30), remove_background=True)
    grey_paper = image_to_array(page(240, 100, faint=230), config)
    white_paper = image_to_array(page(255, 40), config)
    assert np.array_equal(grey_paper, white_paper)
    assert grey_paper[0, 10, 10] == 0 and grey_paper[0, 0, 0] == 255
    assert grey_paper[0, 2, 2] == 255  # 10 of 140 grey levels of contrast: under 20%, so paper


def test_mid_grey_ink_maps_linearly_and_inverts() -> None:
    pixels = np.full((20, 30), 200, dtype=np.uint8)
    pixels[5:15, 10:12] = 0
    pixels[5:15, 20:22] = 100  # half the contrast
    config = PreprocessingConfig(image_size=(20, 30), remove_background=True, invert=True)
    result = image_to_array(Image.fromarray(pixels), config)
    assert result[0, 0, 0] == 0 and result[0, 10, 10] == 255
    assert result[0, 10, 20] == 255 - 128  # paper level 255 * (1 - 0.5) = 127.5 rounds to 128, then inverted


def test_off_by_default_and_blank_pages_are_left_alone() -> None:
    assert PreprocessingConfig().remove_background is False
    blank = Image.fromarray(np.full((20, 30), 230, dtype=np.uint8))
    config = PreprocessingConfig(image_size=(20, 30), remove_background=True)
    assert (image_to_array(blank, config) == 230).all()
