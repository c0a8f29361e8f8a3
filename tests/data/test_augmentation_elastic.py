"""Elastic distortions: smooth bounded fields, a constant field checked against the same shift done by the affine
path, and the random streams of recipes without them left exactly as they were."""

from __future__ import annotations

import pytest
import torch

from siamkit.data import AugmentationConfig, random_affine
from siamkit.data.augmentation import elastic_displacements, sampling_grid_parameters, warp
from siamkit.errors import ConfigError

ELASTIC_ONLY = {
    "enabled": True,
    "probability": 1.0,
    "rotation_degrees": 0.0,
    "shear": 0.0,
    "scale_range": (1.0, 1.0),
    "translation_pixels": 0.0,
}


def bars(batch: int = 4, size: int = 32) -> torch.Tensor:
    images = torch.zeros(batch, 1, size, size)
    images[:, :, 14:18, 4:28] = 1.0
    images[:, :, 4:28, 14:18] = 1.0
    return images


def test_off_by_default_draws_nothing_and_keeps_old_recipes_text() -> None:
    config = AugmentationConfig(enabled=True)
    assert config.elastic_pixels == 0
    generator = torch.Generator().manual_seed(5)
    state = generator.get_state()
    assert elastic_displacements(4, 32, 32, config, generator) is None
    assert torch.equal(generator.get_state(), state)
    assert "elastic_pixels" not in config.to_dict() and "elastic_grid" not in config.to_dict()
    on = AugmentationConfig(enabled=True, elastic_pixels=3.0, elastic_grid=5)
    assert AugmentationConfig.from_dict(on.to_dict()) == on


def test_fields_are_bounded_smooth_and_drawn_per_image() -> None:
    config = AugmentationConfig(**ELASTIC_ONLY, elastic_pixels=6.0, elastic_grid=4, reference_size=105)
    elastic = elastic_displacements(8, 40, 60, config, torch.Generator().manual_seed(0))
    assert elastic is not None
    fields, chosen = elastic
    assert fields.shape == (8, 40, 60, 2) and bool(chosen.all())  # probability 1
    limit = 6.0 / 105 * 2  # normalised units: 2 / size per pixel, the pixels scaled by size / reference_size
    assert float(fields.abs().max()) <= limit + 1e-6
    assert float(fields.abs().max()) > limit / 4
    assert not torch.equal(fields[0], fields[1])
    # Interpolated from 4 control points across 40 rows: neighbours differ by far less than the whole range.
    assert float((fields[:, 1:] - fields[:, :-1]).abs().max()) < limit / 4
    assert float((fields[:, :, 1:] - fields[:, :, :-1]).abs().max()) < limit / 4


def test_a_constant_field_moves_the_image_as_the_affine_shift_does() -> None:
    images = bars()
    size = images.shape[-1]
    # Sampling one pixel to the right (+2 / size normalised) moves the picture one pixel to the left.
    displacement = torch.zeros(images.shape[0], size, size, 2)
    displacement[..., 0] = 2.0 / size
    identity = torch.eye(2, 3).expand(images.shape[0], 2, 3)
    moved = warp(images, identity, 0.0, displacement)
    shift = torch.tensor([[-1.0, 0.0]], dtype=torch.float64).expand(images.shape[0], 2)
    theta = sampling_grid_parameters(torch.eye(2, dtype=torch.float64).expand(images.shape[0], 2, 2), shift, size, size)
    torch.testing.assert_close(moved, warp(images, theta, 0.0))
    torch.testing.assert_close(moved[..., :-1], images[..., 1:])


def test_bends_strokes_keeps_their_ink_and_follows_the_probability() -> None:
    images = bars(batch=200)
    config = AugmentationConfig(**{**ELASTIC_ONLY, "probability": 0.5}, elastic_pixels=6.0)  # 1.8 px at 32 px
    bent = random_affine(images, config, torch.Generator().manual_seed(1))
    changed = (bent - images).flatten(1).abs().amax(dim=1) > 1e-6
    assert 70 < int(changed.sum()) < 130
    assert torch.equal(bent[~changed], images[~changed])  # untouched images are exact copies
    ink_before, ink_after = images.sum(dim=(1, 2, 3)), bent.sum(dim=(1, 2, 3))
    # Strokes stretch and shrink locally, but none vanishes or doubles (as fields in the wrong units would do).
    relative_change = (ink_after - ink_before).abs() / ink_before
    assert float(relative_change.max()) < 0.5 and float(relative_change[changed].mean()) < 0.2
    assert torch.equal(random_affine(images, config, torch.Generator().manual_seed(1)), bent)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"elastic_pixels": -1.0}, "elastic_pixels"),
        ({"elastic_pixels": 40.0}, "elastic_pixels"),
        ({"elastic_grid": 1}, "elastic_grid"),
        ({"elastic_grid": True}, "elastic_grid"),
        ({"elastic_grid": 2.5}, "elastic_grid"),
    ],
)
def test_bad_settings_are_refused_by_name(options: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AugmentationConfig(enabled=True, **options)  # type: ignore[arg-type]
