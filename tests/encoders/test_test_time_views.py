"""The test-time views encoder: the mean unit embedding over fixed views, the same for an image in any batch."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from siamkit.data.augmentation import AugmentationConfig, fixed_views, warp
from siamkit.encoders import EncoderConfig, create_encoder
from siamkit.errors import ConfigError

SHAPE = (1, 16, 24)
DISTORTIONS = {"enabled": True, "rotation_degrees": 10.0, "probability": 1.0}


def inner(embedding_dim: int = 8, shape: tuple[int, ...] = SHAPE) -> dict[str, Any]:
    return EncoderConfig("conv4", shape, embedding_dim, {"width": 4}).to_dict()


def views_encoder(views: int = 4, seed: int = 0, fill: float = 0.0) -> torch.nn.Module:
    options = {"encoder": inner(), "views": views, "seed": seed, "augmentation": DISTORTIONS, "fill": fill}
    torch.manual_seed(0)
    return create_encoder(EncoderConfig("test_time_views", SHAPE, 8, options)).eval()


def test_the_embedding_is_the_mean_unit_embedding_over_the_views_written_by_hand() -> None:
    encoder = views_encoder(views=4, fill=0.25)
    images = torch.rand(3, *SHAPE)
    transforms = fixed_views(3, SHAPE[1], SHAPE[2], AugmentationConfig(**DISTORTIONS), seed=0)
    assert torch.equal(encoder.view_transforms, transforms)  # type: ignore[union-attr]
    network = encoder.inner  # type: ignore[union-attr]
    copies = [images] + [warp(images, transform, 0.25) for transform in transforms]
    expected = torch.stack([F.normalize(network(copy), dim=-1) for copy in copies]).mean(dim=0)
    torch.testing.assert_close(encoder(images), expected)
    # The views really are different images, filled with the background where they uncover the frame.
    assert not torch.allclose(copies[1], images)
    blank = warp(torch.full((1, *SHAPE), 0.25), transforms[0], 0.25)
    torch.testing.assert_close(blank, torch.full_like(blank, 0.25))


def test_an_image_embeds_the_same_alone_or_in_any_batch() -> None:
    encoder = views_encoder()
    images = torch.rand(5, *SHAPE)
    together = encoder(images)
    for index in range(5):
        torch.testing.assert_close(encoder(images[index : index + 1])[0], together[index], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(encoder(images.flip(0)), together.flip(0), atol=1e-5, rtol=1e-5)


def test_the_seed_picks_the_views() -> None:
    first = views_encoder(seed=0).view_transforms  # type: ignore[union-attr]
    assert torch.equal(first, views_encoder(seed=0).view_transforms)  # type: ignore[union-attr]
    assert not torch.equal(first, views_encoder(seed=1).view_transforms)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("options", "embedding_dim", "message"),
    [
        ({"encoder": inner(), "views": 1, "augmentation": DISTORTIONS}, 8, "at least 2"),
        ({"encoder": inner(), "views": 2.5, "augmentation": DISTORTIONS}, 8, "whole number"),
        ({"encoder": inner(shape=(1, 20, 20)), "views": 4, "augmentation": DISTORTIONS}, 8, "must agree"),
        ({"encoder": inner(), "views": 4, "augmentation": DISTORTIONS}, 12, "must agree"),
        ({"encoder": inner(), "views": 4}, 8, "needs the options"),
        ({"encoder": inner(), "views": 4, "augmentation": {**DISTORTIONS, "thicken_strokes": 1}}, 8, "thickening"),
        ({"encoder": inner(), "views": 4, "augmentation": {**DISTORTIONS, "elastic_pixels": 3.0}}, 8, "affine"),
        (
            {"encoder": {"name": "test_time_views", "input_shape": list(SHAPE), "embedding_dim": 8}, "views": 4,
             "augmentation": DISTORTIONS},
            8,
            "already has test-time views",
        ),
    ],
)  # fmt: skip
def test_malformed_configs_are_refused(options: dict[str, Any], embedding_dim: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_encoder(EncoderConfig("test_time_views", SHAPE, embedding_dim, options))
