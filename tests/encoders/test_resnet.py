"""The ResNet encoder's stem stride and pooling: what they change in the network and what they refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig, create_encoder
from siamkit.encoders.pooling import GeneralizedMeanPooling
from siamkit.encoders.resnet import build_resnet
from siamkit.errors import ConfigError
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


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


def test_generalized_mean_pooling_is_the_power_mean_of_each_channel() -> None:
    pooling = GeneralizedMeanPooling()
    feature_map = torch.rand(2, 3, 4, 5) + 0.1
    expected = feature_map.pow(3).mean(dim=(2, 3)).pow(1 / 3)  # the initial exponent is 3
    assert torch.allclose(pooling(feature_map), expected, atol=1e-6)
    with torch.no_grad():
        pooling.exponent.fill_(1.0)
    assert torch.allclose(pooling(feature_map), feature_map.mean(dim=(2, 3)), atol=1e-6)
    # It lies between the average and the maximum, and its exponent is learnt.
    with torch.no_grad():
        pooling.exponent.fill_(8.0)
    pooled = pooling(feature_map)
    assert (pooled >= feature_map.mean(dim=(2, 3))).all() and (pooled <= feature_map.amax(dim=(2, 3)) + 1e-6).all()
    pooled.sum().backward()
    assert pooling.exponent.grad is not None and torch.isfinite(pooling.exponent.grad)


def test_generalized_mean_pooling_reaches_the_resnet_and_survives_a_bundle(tmp_path: Path) -> None:
    config = EncoderConfig("resnet", (1, 32, 32), 8, {"widths": [4, 8], "pooling": "generalized_mean"})
    encoder = create_encoder(config)
    assert any(isinstance(module, GeneralizedMeanPooling) for module in encoder.modules())
    network = SiameseNetwork.from_config(SiameseConfig(config))
    with torch.no_grad():
        next(module for module in network.modules() if isinstance(module, GeneralizedMeanPooling)).exponent.fill_(4.5)
    model = SiameseModel(network.eval(), PreprocessingConfig(image_size=(32, 32)))
    model.save(tmp_path / "bundle")
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    assert torch.allclose(SiameseModel.load(tmp_path / "bundle").embed(list(images)), model.embed(list(images)))


def test_an_unknown_pooling_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"pooling must be one of \('average', 'generalized_mean'\), got 'max'"):
        build_resnet((1, 32, 32), pooling="max")
