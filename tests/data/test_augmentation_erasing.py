"""Random erasing: rectangles checked against a hand-written loop over the same random draws, and what it
leaves alone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from siamkit.data import AugmentationConfig, augment_images, random_erasing
from siamkit.data.augmentation import ERASE_ASPECT_RANGE
from siamkit.errors import ConfigError, DataError

HEIGHT, WIDTH = 12, 20


def erase_by_hand(images: np.ndarray, draws: np.ndarray, config: AugmentationConfig) -> np.ndarray:
    """Each image's rectangle worked out one number at a time from its five uniform draws."""
    output = images.copy()
    low, high = config.erase_area
    for index in range(images.shape[0]):
        chosen, area_draw, aspect_draw, top_draw, left_draw = draws[index]
        if chosen >= config.erase_probability:
            continue
        area = (low + area_draw * (high - low)) * HEIGHT * WIDTH
        aspect = math.exp(
            math.log(ERASE_ASPECT_RANGE[0]) + aspect_draw * math.log(ERASE_ASPECT_RANGE[1] / ERASE_ASPECT_RANGE[0])
        )
        rectangle_height = min(max(round(math.sqrt(area * aspect)), 1), HEIGHT)
        rectangle_width = min(max(round(math.sqrt(area / aspect)), 1), WIDTH)
        top = math.floor(top_draw * (HEIGHT - rectangle_height + 1))
        left = math.floor(left_draw * (WIDTH - rectangle_width + 1))
        output[index, :, top : top + rectangle_height, left : left + rectangle_width] = config.fill
    return output


def test_off_by_default_draws_nothing_and_keeps_old_recipes_text() -> None:
    batch = torch.rand(4, 1, HEIGHT, WIDTH)
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    assert random_erasing(batch, AugmentationConfig(enabled=True), generator) is batch
    assert torch.equal(generator.get_state(), state)
    assert "erase_probability" not in AugmentationConfig(enabled=True).to_dict()
    assert "erase_area" not in AugmentationConfig(enabled=True).to_dict()
    # A recipe that switches erasing on keeps both settings.
    on = AugmentationConfig(enabled=True, erase_probability=0.5, erase_area=(0.1, 0.3))
    assert AugmentationConfig.from_dict(on.to_dict()) == on


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_rectangles_match_a_hand_written_loop_over_the_same_draws(fill: float) -> None:
    config = AugmentationConfig(enabled=True, erase_probability=0.7, erase_area=(0.05, 0.4), fill=fill)
    batch = torch.rand(64, 2, HEIGHT, WIDTH)
    before = batch.clone()
    erased = random_erasing(batch, config, torch.Generator().manual_seed(11))
    draws = torch.rand(64, 5, generator=torch.Generator().manual_seed(11), dtype=torch.float64).numpy()
    np.testing.assert_array_equal(erased.numpy(), erase_by_hand(batch.numpy(), draws, config))
    assert erased is not batch and torch.equal(batch, before)  # the input is left as it was


def test_every_erased_image_loses_one_whole_rectangle_of_the_asked_size_inside_the_image() -> None:
    config = AugmentationConfig(enabled=True, erase_probability=1.0, erase_area=(0.1, 0.2), fill=0.0)
    ones = torch.ones(200, 1, HEIGHT, WIDTH)
    erased = random_erasing(ones, config, torch.Generator().manual_seed(0))
    for image in erased[:, 0]:
        rows, columns = torch.nonzero(image == 0, as_tuple=True)
        height = int(rows.max() - rows.min() + 1)
        width = int(columns.max() - columns.min() + 1)
        assert len(rows) == height * width  # one solid rectangle
        # Rounding each side to whole pixels moves the share a little beyond the asked range.
        assert 0.1 * 0.6 <= len(rows) / (HEIGHT * WIDTH) <= 0.2 * 1.5
        assert 0.3 / 1.6 <= height / width <= 3.3 * 1.6


def test_probability_picks_that_share_of_images() -> None:
    config = AugmentationConfig(enabled=True, erase_probability=0.3)
    erased = random_erasing(torch.ones(2000, 1, HEIGHT, WIDTH), config, torch.Generator().manual_seed(1))
    share = (erased.flatten(1) < 1).any(dim=1).float().mean().item()
    assert share == pytest.approx(0.3, abs=0.04)


def test_training_augmentation_erases_after_the_affine_distortions() -> None:
    config = AugmentationConfig(enabled=True, probability=1.0, erase_probability=1.0, fill=0.5)
    erased = augment_images(torch.ones(8, 1, HEIGHT, WIDTH), config, torch.Generator().manual_seed(2))
    # An erased rectangle is exactly `fill` even where the affine transform moved pixels: it came last.
    assert all(bool((image == 0.5).any()) for image in erased)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"erase_probability": 1.5}, r"erase_probability must be in \[0, 1\], got 1.5"),
        ({"erase_area": (0.3, 0.1)}, r"erase_area must satisfy 0 < low <= high <= 1"),
        ({"erase_area": (0.0, 0.1)}, r"erase_area must satisfy 0 < low <= high <= 1"),
        ({"erase_area": (0.1, 1.5)}, r"erase_area must satisfy 0 < low <= high <= 1"),
    ],
)
def test_bad_settings_are_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AugmentationConfig(enabled=True, **change)  # type: ignore[arg-type]


def test_a_uint8_batch_is_refused_by_name() -> None:
    config = AugmentationConfig(enabled=True, erase_probability=0.5)
    with pytest.raises(DataError, match="random_erasing needs a float"):
        random_erasing(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), config)
