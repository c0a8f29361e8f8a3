"""The convolutional twin of Koch, Zemel and Salakhutdinov (2015) for 105x105 characters."""

from __future__ import annotations

from torch import nn

from siamkit.encoders.base import ENCODERS, flattened_size, require_image_shape


@ENCODERS.register("koch")
def build_koch(input_shape: tuple[int, ...], embedding_dim: int = 4096, width_multiplier: float = 1.0) -> nn.Module:
    """Conv 64@10x10, 128@7x7, 128@4x4, 256@4x4 with ReLU and 2x2 max-pools, then a sigmoid layer.

    Args:
        input_shape: `(channels, height, width)`; the paper uses `(1, 105, 105)`.
        embedding_dim: Units of the final sigmoid layer (4096 in the paper).
        width_multiplier: Scales every convolution's channels, for a downsized twin.
    """
    require_image_shape("koch", input_shape, minimum_side=65)

    def channels(base: int) -> int:
        return max(1, round(base * width_multiplier))

    features = nn.Sequential(
        nn.Conv2d(input_shape[0], channels(64), kernel_size=10),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(channels(64), channels(128), kernel_size=7),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(channels(128), channels(128), kernel_size=4),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(channels(128), channels(256), kernel_size=4),
        nn.ReLU(inplace=True),
    )
    flat = flattened_size(features, input_shape)
    return nn.Sequential(features, nn.Flatten(), nn.Linear(flat, embedding_dim), nn.Sigmoid())
