"""The ResNet encoder's stem stride: what it changes in the network and what it refuses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from siamkit.encoders import EncoderConfig, create_encoder
from siamkit.encoders.resnet import build_resnet
from siamkit.errors import ConfigError


def first_block_input_size(network: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """Height and width of the map the first residual block is fed."""
    stem = nn.Sequential(*list(network.children())[:3])
    return tuple(stem(torch.zeros(1, *input_shape)).shape[2:])  # type: ignore[return-value]


def parameter_count(network: nn.Module) -> int:
    return sum(parameter.numel() for parameter in network.parameters())


def test_stem_stride_two_halves_the_map_and_keeps_the_weights() -> None:
    plain = build_resnet((1, 32, 48), embedding_dim=8, widths=(4, 8))
    strided = build_resnet((1, 32, 48), embedding_dim=8, widths=(4, 8), stem_stride=2)
    assert first_block_input_size(plain, (1, 32, 48)) == (32, 48)
    assert first_block_input_size(strided, (1, 32, 48)) == (16, 24)
    # Same layers, same weights: only the stem's stride differs, so a bundle's size does not change.
    assert parameter_count(plain) == parameter_count(strided)
    outputs = strided(torch.rand(2, 1, 32, 48))
    assert outputs.shape == (2, 8) and torch.isfinite(outputs).all()


def test_twice_the_input_with_stem_stride_two_gives_the_blocks_the_smaller_input_s_map() -> None:
    small = build_resnet((1, 24, 36), widths=(4, 8))
    large = build_resnet((1, 48, 72), widths=(4, 8), stem_stride=2)
    assert first_block_input_size(small, (1, 24, 36)) == first_block_input_size(large, (1, 48, 72))


def test_stem_stride_reaches_the_encoder_through_its_config() -> None:
    encoder = create_encoder(EncoderConfig("resnet", (1, 32, 32), 8, {"widths": [4, 8], "stem_stride": 2}))
    stem_convolution = next(module for module in encoder.modules() if isinstance(module, nn.Conv2d))
    assert stem_convolution.stride == (2, 2)


@pytest.mark.parametrize("stride", [0, 3])
def test_other_stem_strides_are_refused(stride: int) -> None:
    with pytest.raises(ConfigError, match="stem_stride must be 1 or 2"):
        build_resnet((1, 32, 32), stem_stride=stride)
