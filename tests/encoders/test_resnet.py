"""The ResNet encoder's stem stride and pooling: what they change in the network and what they refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig, create_encoder
from siamkit.encoders.pooling import POOLINGS, BilinearPooling, GeneralizedMeanPooling
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
    with pytest.raises(ConfigError, match=r"pooling must be one of \('average', .*'bilinear'\), got 'max'"):
        build_resnet((1, 32, 32), pooling="max")


def test_bilinear_pooling_matches_a_hand_written_outer_product_average() -> None:
    feature_map = torch.rand(2, 3, 2, 4)
    pooled = BilinearPooling(epsilon=0.0)(feature_map)
    for image in range(2):
        products = torch.zeros(3, 3)
        for row in range(2):
            for column in range(4):
                location = feature_map[image, :, row, column]
                products += torch.outer(location, location)
        products = (products / 8).flatten()
        rooted = products.sign() * products.abs().sqrt()
        assert torch.allclose(pooled[image], rooted / rooted.norm(), atol=1e-6)


def test_bilinear_pooling_sees_which_channels_fire_together_where_the_average_does_not() -> None:
    # Channels 0 and 1 fire at the same place in one map and at different places in the other: the same
    # per-channel averages, different co-occurrences.
    together = torch.zeros(1, 2, 1, 2)
    together[0, :, 0, 0] = 1.0
    apart = torch.zeros(1, 2, 1, 2)
    apart[0, 0, 0, 0] = 1.0
    apart[0, 1, 0, 1] = 1.0
    assert torch.equal(together.mean(dim=(2, 3)), apart.mean(dim=(2, 3)))
    assert not torch.allclose(BilinearPooling()(together), BilinearPooling()(apart), atol=1e-3)


@pytest.mark.parametrize(
    ("input_shape", "widths", "expected_length"),
    [
        ((1, 40, 40), (16, 32, 64, 128), 128 * 5 * 5),
        ((1, 16, 20), (8, 16), 16 * 8 * 10),
        ((3, 17, 17), (4, 8), 8 * 9 * 9),
    ],
)
def test_flatten_pooling_projects_the_whole_last_map(
    input_shape: tuple[int, int, int], widths: tuple[int, ...], expected_length: int
) -> None:
    network = build_resnet(input_shape, embedding_dim=8, widths=widths, pooling="flatten")
    projection = list(network.children())[-1]
    assert isinstance(projection, nn.Linear) and projection.in_features == expected_length
    # Its length came from a dry run, which must leave the batch-norm statistics and the training mode alone.
    assert network.training
    assert all(
        torch.equal(module.running_mean, torch.zeros_like(module.running_mean))
        for module in network.modules()
        if isinstance(module, nn.BatchNorm2d)
    )
    # The network runs at other input sizes and at stem stride 2 too.
    for stem_stride in (1, 2):
        strided = build_resnet(input_shape, embedding_dim=8, widths=widths, pooling="flatten", stem_stride=stem_stride)
        assert strided(torch.rand(2, *input_shape)).shape == (2, 8)


def test_flatten_pooling_tells_apart_a_character_and_its_mirror_image() -> None:
    # A left-right mirror keeps each channel's average (the layers are not mirror-symmetric, so not exactly,
    # hence the comparison of the two poolings' changes rather than an equality).
    torch.manual_seed(0)
    images = torch.zeros(1, 1, 16, 16)
    images[0, 0, 4:12, 2:5] = 1.0
    mirrored = images.flip(-1)
    changes = {}
    for pooling in ("average", "flatten"):
        torch.manual_seed(0)
        network = build_resnet((1, 16, 16), embedding_dim=8, widths=(4, 8), pooling=pooling).eval()
        with torch.no_grad():
            changes[pooling] = (network(images) - network(mirrored)).norm() / network(images).norm()
    assert changes["flatten"] > 2 * changes["average"]


@pytest.mark.parametrize("pooling", POOLINGS)
def test_every_pooling_trains_and_survives_a_bundle(pooling: str, tmp_path: Path) -> None:
    config = EncoderConfig("resnet", (1, 20, 24), 8, {"widths": [4, 8], "pooling": pooling})
    network = SiameseNetwork.from_config(SiameseConfig(config))
    outputs = network.embed(torch.rand(3, 1, 20, 24))
    assert outputs.shape == (3, 8) and torch.isfinite(outputs).all()
    outputs.square().sum().backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    model = SiameseModel(network.eval(), PreprocessingConfig(image_size=(20, 24)))
    model.save(tmp_path / "bundle")
    images = np.random.default_rng(1).integers(0, 256, (3, 20, 24), dtype=np.uint8)
    assert torch.allclose(SiameseModel.load(tmp_path / "bundle").embed(list(images)), model.embed(list(images)))
