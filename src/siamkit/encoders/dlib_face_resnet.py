"""dlib's face-recognition ResNet (the network behind `dlib_face_recognition_resnet_model_v1`), in PyTorch.

The architecture follows dlib's `dnn_face_recognition_ex.cpp` exactly, so that weights trained by dlib on
about three million faces (imported with `siamkit.encoders.dlib_weights`) give the same 128-d descriptors:
a 7x7 stride-2 stem, 3 x 32, 4 x 64, 3 x 128, 3 x 256 and 1 x 256 residual blocks, global average pooling and
a 128-d linear layer without bias. Two dlib details matter for equivalence:

- batch norm was folded into per-channel affine layers (a scale and a shift), which never update statistics;
- a down-sampling block adds its input average-pooled 2x2 (no projection), and when the two tensors differ in
  channels or size dlib pads the smaller one with zeros (bottom/right), which `_padded_add` reproduces.

The encoder takes RGB images scaled to [0, 1] (siamkit's usual `mean 0, std 1` preprocessing) and applies
dlib's own input normalisation inside: `(pixel - channel_mean) / 256`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from siamkit.encoders.base import ENCODERS, require_image_shape
from siamkit.errors import ConfigError

# dlib's input_rgb_image_sized averages (red, green, blue), in 0-255 pixel units.
DLIB_CHANNEL_MEANS = (122.782, 117.001, 104.298)

# (channels, blocks, first block down-samples) per stage, input side first.
STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


class Affine(nn.Module):
    """A per-channel scale and shift: dlib's inference-time replacement for batch norm."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.shift = nn.Parameter(torch.zeros(channels))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs * self.scale[:, None, None] + self.shift[:, None, None]


def _padded_add(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Adds two `(B, C, H, W)` tensors whose C, H or W may differ, zero-padding each to the larger size."""
    channels = max(first.shape[1], second.shape[1])
    height = max(first.shape[2], second.shape[2])
    width = max(first.shape[3], second.shape[3])

    def pad(tensor: torch.Tensor) -> torch.Tensor:
        return F.pad(
            tensor,
            (0, width - tensor.shape[3], 0, height - tensor.shape[2], 0, channels - tensor.shape[1]),
        )

    return pad(first) + pad(second)


class ResidualBlock(nn.Module):
    """conv3x3-affine-ReLU-conv3x3-affine plus the input (average-pooled when down-sampling), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool) -> None:
        super().__init__()
        stride = 2 if downsample else 1
        # dlib pads a stride-1 3x3 convolution by one pixel and a strided one not at all.
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=0 if downsample else 1)
        self.affine1 = Affine(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.affine2 = Affine(out_channels)
        self.downsample = downsample

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.affine2(self.conv2(torch.relu(self.affine1(self.conv1(inputs)))))
        shortcut = F.avg_pool2d(inputs, 2, 2) if self.downsample else inputs
        return torch.relu(_padded_add(shortcut, out))


class DlibFaceResNet(nn.Module):
    """The dlib face descriptor network (29 convolutions, 5.6 M parameters); see the module docstring."""

    def __init__(self, embedding_dim: int = 128) -> None:
        super().__init__()
        self.channel_means: torch.Tensor
        self.register_buffer("channel_means", torch.tensor(DLIB_CHANNEL_MEANS) / 255.0, persistent=False)
        self.stem = nn.Conv2d(3, 32, 7, stride=2)
        self.stem_affine = Affine(32)
        blocks: list[ResidualBlock] = []
        in_channels = 32
        for channels, count, downsample in STAGES:
            for index in range(count):
                blocks.append(ResidualBlock(in_channels, channels, downsample and index == 0))
                in_channels = channels
        self.blocks = nn.ModuleList(blocks)
        self.projection = nn.Linear(in_channels, embedding_dim, bias=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        # siamkit feeds pixels / 255; dlib expects (pixel - mean) / 256.
        out = (inputs - self.channel_means[:, None, None]) * (255.0 / 256.0)
        out = F.max_pool2d(torch.relu(self.stem_affine(self.stem(out))), 3, 2)
        for block in self.blocks:
            out = block(out)
        return self.projection(out.mean(dim=(2, 3)))


@ENCODERS.register("dlib_face_resnet")
def build_dlib_face_resnet(input_shape: tuple[int, ...], embedding_dim: int = 128) -> nn.Module:
    """dlib's face-recognition ResNet for aligned 150x150 RGB face chips.

    Args:
        input_shape: `(3, height, width)`; dlib's weights were trained on 150x150 chips, and any side of at
            least 103 pixels runs (four unpadded stride-2 stages need a 3x3 map left at the last one).
        embedding_dim: Output length (128 to load dlib's weights).
    """
    require_image_shape("dlib_face_resnet", input_shape, minimum_side=103)
    if input_shape[0] != 3:
        raise ConfigError(f"encoder 'dlib_face_resnet' needs RGB input (3 channels), got {input_shape[0]}")
    return DlibFaceResNet(embedding_dim)
