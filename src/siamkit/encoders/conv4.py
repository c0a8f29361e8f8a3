"""The four-block convolutional encoder common in few-shot learning, for small images."""

from __future__ import annotations

from torch import nn

from siamkit.encoders.base import ENCODERS, flattened_size, require_image_shape


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


@ENCODERS.register("conv4")
def build_conv4(input_shape: tuple[int, ...], embedding_dim: int, width: int = 64) -> nn.Module:
    """Four conv3x3-BatchNorm-ReLU-maxpool blocks, then a linear projection to `embedding_dim`.

    Args:
        input_shape: `(channels, height, width)`, each side at least 16 pixels.
        embedding_dim: Output length.
        width: Channels of every block.
    """
    require_image_shape("conv4", input_shape, minimum_side=16)
    features = nn.Sequential(
        _block(input_shape[0], width), _block(width, width), _block(width, width), _block(width, width)
    )
    flat = flattened_size(features, input_shape)
    return nn.Sequential(features, nn.Flatten(), nn.Linear(flat, embedding_dim))
