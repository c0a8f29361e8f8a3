"""Batched random affine augmentation: shape, determinism, identity when off, and the geometry itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamkit.data import AugmentationConfig, random_affine
from siamkit.data.augmentation import sample_transforms
from siamkit.errors import ConfigError, DataError


def strokes(batch: int = 8, size: int = 28) -> torch.Tensor:
    images = torch.zeros(batch, 1, size, size)
    images[:, :, 8:20, 12:15] = 1.0  # a vertical bar
    images[:, :, 12:14, 6:22] = 1.0  # and a horizontal one
    return images


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_disabled_returns_the_batch_unchanged():
    batch = strokes()
    assert random_affine(batch, AugmentationConfig(), generator(0)) is batch


def test_keeps_shape_and_is_deterministic_for_a_seed():
    batch = strokes()
    config = AugmentationConfig(enabled=True)
    first = random_affine(batch, config, generator(7))
    assert first.shape == batch.shape and first.dtype == batch.dtype
    assert torch.equal(first, random_affine(batch, config, generator(7)))
    assert not torch.equal(first, random_affine(batch, config, generator(8)))
    assert torch.equal(batch, strokes())  # the input is not modified


def test_moves_pixels_image_by_image():
    batch = strokes(batch=32)
    config = AugmentationConfig(enabled=True)
    output = random_affine(batch, config, generator(1))
    _, _, moved = sample_transforms(32, 28, 28, config, generator(1))
    changed = (output - batch).abs().flatten(1).amax(dim=1) > 1e-4
    assert moved.any() and not moved.all()  # with p = 0.5 per component, about 1 in 16 stays still
    assert torch.equal(changed, moved)
    assert torch.equal(output[~moved], batch[~moved])  # untouched images are copied exactly
    # Different images of the batch get different transforms.
    assert not torch.allclose(output[moved][0], output[moved][1])


def bilinear(image: np.ndarray, x: float, y: float) -> float:
    """Reference bilinear sample at pixel coordinates (x, y), zero outside the image."""
    height, width = image.shape
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    total = 0.0
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - abs(x - xi)) * (1 - abs(y - yi))
            if 0 <= xi < width and 0 <= yi < height:
                total += weight * image[yi, xi]
    return total


def test_scaling_matches_a_hand_computed_zoom_about_the_centre():
    image = np.arange(30, dtype=np.float32).reshape(5, 6) / 30
    config = AugmentationConfig(enabled=True, probability=1.0, rotation_degrees=0, shear=0, translation_pixels=0)
    config.scale_range = (2.0, 2.0)
    output = random_affine(torch.from_numpy(image)[None, None], config, generator(0))[0, 0].numpy()
    centre_y, centre_x = (5 - 1) / 2, (6 - 1) / 2
    expected = np.array(
        [
            [bilinear(image, centre_x + (x - centre_x) / 2, centre_y + (y - centre_y) / 2) for x in range(6)]
            for y in range(5)
        ]
    )
    np.testing.assert_allclose(output, expected, atol=1e-5)


def test_general_transforms_match_a_hand_written_inverse_mapping():
    # A non-square image and every component at once: output pixel q samples the input at A^-1 (q - c - t) + c.
    height, width = 7, 11
    images = torch.rand(4, 1, height, width, generator=generator(2))
    config = AugmentationConfig(enabled=True, probability=1.0, translation_pixels=30.0)
    output = random_affine(images, config, generator(5))
    matrices, shifts, _ = sample_transforms(4, height, width, config, generator(5))
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    for index in range(4):
        inverse = np.linalg.inv(matrices[index].numpy())
        for y in range(height):
            for x in range(width):
                source = inverse @ (np.array([x, y]) - centre - shifts[index].numpy()) + centre
                expected = bilinear(images[index, 0].numpy(), source[0], source[1])
                assert abs(float(output[index, 0, y, x]) - expected) < 1e-4, (index, x, y)


def test_translation_scales_with_image_size_and_fill_sets_the_background():
    config = AugmentationConfig(enabled=True, probability=1.0, rotation_degrees=0, shear=0, scale_range=(1, 1))
    matrices, shifts, _ = sample_transforms(1000, 28, 56, config, generator(0))
    assert torch.allclose(matrices, torch.eye(2, dtype=torch.float64).expand(1000, 2, 2))
    assert shifts[:, 0].abs().max() <= 2 * 56 / 105 and shifts[:, 0].abs().max() > 0.9 * 2 * 56 / 105
    assert shifts[:, 1].abs().max() <= 2 * 28 / 105
    shrink = AugmentationConfig(enabled=True, probability=1.0, rotation_degrees=0, shear=0, translation_pixels=0)
    shrink.scale_range = (0.5, 0.5)
    white = torch.ones(2, 1, 10, 10)
    assert torch.allclose(random_affine(white, AugmentationConfig(**{**shrink.to_dict(), "fill": 1.0})), white)
    dark_border = random_affine(white, shrink, generator(0))
    assert dark_border[0, 0, 0, 0] == 0 and dark_border[0, 0, 5, 5] == 1


def test_rotation_and_shear_stay_within_their_ranges():
    config = AugmentationConfig(enabled=True, probability=1.0, scale_range=(1, 1), translation_pixels=0, shear=0)
    matrices, _, moved = sample_transforms(2000, 20, 20, config, generator(0))
    angles = torch.rad2deg(torch.atan2(matrices[:, 1, 0], matrices[:, 0, 0]))
    assert moved.all() and angles.abs().max() <= 10 and angles.abs().max() > 9.5
    assert torch.allclose(torch.linalg.det(matrices), torch.ones(2000, dtype=torch.float64))  # pure rotations


def test_flip_mirrors_only_when_asked():
    config = AugmentationConfig(enabled=True, probability=0.0, horizontal_flip=True)
    matrices, _, moved = sample_transforms(400, 8, 8, config, generator(0))
    flipped = matrices[:, 0, 0] < 0
    assert 150 < int(flipped.sum()) < 250 and torch.equal(moved, flipped)
    assert not (sample_transforms(400, 8, 8, AugmentationConfig(enabled=True), generator(0))[0][:, 0, 0] < 0).any()


def test_bad_inputs_and_settings():
    config = AugmentationConfig(enabled=True)
    with pytest.raises(DataError, match="needs a float"):
        random_affine(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), config)
    with pytest.raises(DataError, match=r"\(B, C, H, W\)"):
        random_affine(torch.zeros(4, 4), config)
    with pytest.raises(ConfigError, match="shear must be in"):
        AugmentationConfig(shear=1.5)
    with pytest.raises(ConfigError, match="unknown fields"):
        AugmentationConfig.from_dict({"rotation": 3})
    assert AugmentationConfig.from_dict(config.to_dict()) == config
