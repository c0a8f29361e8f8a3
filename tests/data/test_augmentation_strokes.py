"""Stroke thickening: a dilation of the ink checked against a hand-written one, and what it leaves alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamkit.data import AugmentationConfig, augment_images, random_affine, random_stroke_thickening
from siamkit.errors import ConfigError, DataError


def one_pixel_cross(batch: int = 6, size: int = 16) -> torch.Tensor:
    images = torch.zeros(batch, 1, size, size)
    images[:, :, 4:12, 8] = 1.0
    images[:, :, 8, 4:12] = 1.0
    return images


def dilate_by_hand(image: np.ndarray, radius: int, ink_value: float) -> np.ndarray:
    """The ink value wherever any pixel within `radius` (square neighbourhood) is ink."""
    height, width = image.shape
    output = image.copy()
    for row in range(height):
        for column in range(width):
            window = image[max(0, row - radius) : row + radius + 1, max(0, column - radius) : column + radius + 1]
            if (window == ink_value).any():
                output[row, column] = ink_value
    return output


def test_off_by_default_and_returns_the_batch_itself():
    batch = one_pixel_cross()
    assert AugmentationConfig().thicken_strokes == 0
    assert random_stroke_thickening(batch, AugmentationConfig(enabled=True), torch.Generator()) is batch
    assert "thicken_strokes" not in AugmentationConfig(enabled=True).to_dict()  # old recipes keep their text


def test_thickens_bright_ink_as_a_hand_written_dilation():
    batch = one_pixel_cross()
    config = AugmentationConfig(enabled=True, probability=1.0, thicken_strokes=1)
    thickened = random_stroke_thickening(batch, config, torch.Generator().manual_seed(0))
    expected = dilate_by_hand(batch[0, 0].numpy(), 1, 1.0)
    for image in thickened:
        np.testing.assert_array_equal(image[0].numpy(), expected)
    assert torch.equal(batch, one_pixel_cross())  # the input is not modified
    # Each 8-pixel bar becomes 3 wide and 10 long (a pixel more at each end); they share a 3x3 centre.
    assert int(expected.sum()) == 3 * 10 + 3 * 10 - 9


def test_dark_ink_on_white_paper_is_thickened_too():
    white_page = 1.0 - one_pixel_cross()
    config = AugmentationConfig(enabled=True, probability=1.0, thicken_strokes=1, fill=1.0)
    thickened = random_stroke_thickening(white_page, config, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(thickened[0, 0].numpy(), dilate_by_hand(white_page[0, 0].numpy(), 1, 0.0))


def test_widths_vary_per_image_and_follow_the_probability():
    batch = one_pixel_cross(batch=200)
    config = AugmentationConfig(enabled=True, probability=0.5, thicken_strokes=2)
    thickened = random_stroke_thickening(batch, config, torch.Generator().manual_seed(3))
    ink = thickened.flatten(1).sum(dim=1)
    plain, by_one, by_two = (
        float(batch[0].sum()),
        *(float(dilate_by_hand(batch[0, 0].numpy(), r, 1.0).sum()) for r in (1, 2)),
    )
    counts = {value: int((ink == value).sum()) for value in (plain, by_one, by_two)}
    assert sum(counts.values()) == 200  # every image is one of the three
    assert 70 < counts[plain] < 130 and counts[by_one] > 25 and counts[by_two] > 25
    again = random_stroke_thickening(batch, config, torch.Generator().manual_seed(3))
    assert torch.equal(thickened, again)


def test_affine_random_stream_is_unchanged_when_thickening_is_off():
    batch = one_pixel_cross()
    config = AugmentationConfig(enabled=True)
    assert torch.equal(
        augment_images(batch, config, torch.Generator().manual_seed(5)),
        random_affine(batch, config, torch.Generator().manual_seed(5)),
    )


@pytest.mark.parametrize("value", [-1, 9, 1.5, True])
def test_bad_widths_are_refused(value: object):
    with pytest.raises(ConfigError, match="thicken_strokes"):
        AugmentationConfig(thicken_strokes=value)  # type: ignore[arg-type]


def test_round_trips_through_a_recipe_dictionary():
    config = AugmentationConfig(enabled=True, thicken_strokes=2)
    assert AugmentationConfig.from_dict(config.to_dict()) == config


def test_a_batch_that_is_not_float_images_is_refused():
    config = AugmentationConfig(enabled=True, thicken_strokes=1)
    with pytest.raises(DataError, match=r"\(B, C, H, W\)"):
        random_stroke_thickening(torch.zeros(16, 16), config)
    with pytest.raises(DataError, match="float"):
        random_stroke_thickening(torch.zeros(2, 1, 16, 16, dtype=torch.uint8), config)
