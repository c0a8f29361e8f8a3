"""A small residual network for faces and other natural images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from siamkit.encoders.base import ENCODERS, flattened_size, require_image_shape
from siamkit.encoders.pooling import POOLINGS, BilinearPooling, GeneralizedMeanPooling
from siamkit.errors import ConfigError


class BasicBlock(nn.Module):
    """Two conv3x3-BatchNorm layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(inputs)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(inputs))


@ENCODERS.register("resnet")
def build_resnet(
    input_shape: tuple[int, ...],
    embedding_dim: int = 128,
    widths: Sequence[int] = (32, 64, 128, 256),
    blocks_per_stage: int = 1,
    stem_stride: int = 1,
    pooling: str = "average",
) -> nn.Module:
    """A stem convolution, one stage of basic blocks per width (each after the first halves the
    resolution), global pooling and a linear projection.

    Args:
        input_shape: `(channels, height, width)`, each side at least 16 pixels.
        embedding_dim: Output length.
        widths: Channels of each stage.
        blocks_per_stage: Residual blocks in each stage (1 gives a ResNet-10-like depth).
        stem_stride: Stride of the stem convolution. 2 feeds the blocks a map of half the input's sides, so an
            input of twice the sides (finer strokes, say) costs about what the smaller input costs at stride 1.
        pooling: How the last map becomes one vector: `average`; `generalized_mean` (GeM, a learnt exponent
            between the average and the maximum); `flatten` (the whole map, so the projection sees where each
            response is, as Koch's and the conv4 networks do; its size then depends on the input's); or
            `bilinear` (the average outer product of the channels; see `siamkit.encoders.pooling`).
    """
    require_image_shape("resnet", input_shape, minimum_side=16)
    if stem_stride not in (1, 2):
        raise ConfigError(f"encoder 'resnet': stem_stride must be 1 or 2, got {stem_stride!r}")
    if pooling not in POOLINGS:
        raise ConfigError(f"encoder 'resnet': pooling must be one of {POOLINGS}, got {pooling!r}")
    layers: list[nn.Module] = [
        nn.Conv2d(input_shape[0], widths[0], 3, stride=stem_stride, padding=1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(inplace=True),
    ]
    in_channels = widths[0]
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(in_channels, int(width), stride))
            in_channels = int(width)
    pooled_length = in_channels
    if pooling == "average":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    elif pooling == "generalized_mean":
        layers.append(GeneralizedMeanPooling())
    elif pooling == "bilinear":
        layers.append(BilinearPooling())
        pooled_length = in_channels * in_channels
    else:
        pooled_length = flattened_size(nn.Sequential(*layers), input_shape)
        layers.append(nn.Flatten())
    layers.append(nn.Linear(pooled_length, embedding_dim))
    return nn.Sequential(*layers)
