"""An encoder that embeds each input through fixed affine views of it: test-time augmentation in the bundle.

A network trained with random affine distortions embeds one image a little differently under each of them;
averaging the unit embeddings of the image and of `views - 1` distorted copies gives an embedding that leans
less on one rendering of the strokes. The distortions are drawn once, from a seed and the augmentation the
model was trained with, and kept as a buffer among the weights: every image is seen through the same views
whatever batch it arrives in, and the bundle's fingerprint changes with them. Because it is an encoder, verify,
evaluate, calibrate, galleries and the service use it with no special case.
`siamkit.test_time_views.add_test_time_views` wraps a trained bundle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from siamkit.data.augmentation import AugmentationConfig, fixed_views, warp
from siamkit.encoders.base import ENCODERS, EncoderConfig, create_encoder, require_image_shape
from siamkit.errors import ConfigError


class TestTimeViewsEncoder(nn.Module):
    """Runs the inner encoder on the input and on each fixed view of it; returns the mean unit embedding."""

    __test__ = False  # a model, not a pytest test class, whatever its name says
    view_transforms: torch.Tensor

    def __init__(self, inner: nn.Module, view_transforms: torch.Tensor, fill: float) -> None:
        super().__init__()
        self.inner = inner
        self.fill = fill
        self.register_buffer("view_transforms", view_transforms)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        total = F.normalize(self.inner(inputs), dim=-1)
        for transform in self.view_transforms:
            total = total + F.normalize(self.inner(warp(inputs, transform, self.fill)), dim=-1)
        return total / (len(self.view_transforms) + 1)


@ENCODERS.register("test_time_views")
def build_test_time_views(
    input_shape: tuple[int, ...],
    embedding_dim: int,
    encoder: Mapping[str, Any] | None = None,
    views: int = 8,
    seed: int = 0,
    augmentation: Mapping[str, Any] | None = None,
    fill: float = 0.0,
) -> nn.Module:
    """An encoder read through `views` views of each image: the image itself and `views - 1` fixed distortions.

    Args:
        input_shape: The image shape the inner encoder reads.
        embedding_dim: The inner encoder's embedding length.
        encoder: The inner encoder's config as a bundle stores it (`EncoderConfig.to_dict()`).
        views: How many views to average, the image itself included; at least 2.
        seed: Draws the distortions; the same seed gives the same views.
        augmentation: The distortions' distribution (`AugmentationConfig` fields), usually the training one.
        fill: The value of the area a distortion uncovers, in the encoder's input units (after the bundle's
            mean/std normalisation): the background.
    """
    require_image_shape("test_time_views", input_shape, minimum_side=1)
    if encoder is None or augmentation is None:
        raise ConfigError("encoder 'test_time_views' needs the options 'encoder' and 'augmentation'")
    inner = EncoderConfig.from_dict(dict(encoder))
    if inner.name == "test_time_views":
        raise ConfigError("encoder 'test_time_views': its inner encoder already has test-time views")
    if tuple(inner.input_shape) != tuple(input_shape) or inner.embedding_dim != embedding_dim:
        raise ConfigError(
            f"encoder 'test_time_views': its inner encoder reads {tuple(inner.input_shape)} and embeds in "
            f"{inner.embedding_dim}, the wrapper {tuple(input_shape)} and {embedding_dim}; they must agree"
        )
    if isinstance(views, bool) or not isinstance(views, int) or views < 2:
        raise ConfigError(f"encoder 'test_time_views': views must be a whole number of at least 2, got {views!r}")
    distortions = AugmentationConfig.from_dict(dict(augmentation))
    if distortions.thicken_strokes:
        raise ConfigError("encoder 'test_time_views': stroke thickening is not a view; set thicken_strokes to 0")
    if distortions.elastic_pixels:
        raise ConfigError("encoder 'test_time_views': views are affine; set elastic_pixels to 0")
    transforms = fixed_views(views - 1, int(input_shape[1]), int(input_shape[2]), distortions, seed)
    return TestTimeViewsEncoder(create_encoder(inner), transforms, float(fill))
