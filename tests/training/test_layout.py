"""Channels-last training is switched off for networks whose strided 1x1 convolutions oneDNN gets wrong."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
from torch import nn

from siamkit.comparisons import ComparisonConfig
from siamkit.encoders import EncoderConfig
from siamkit.encoders.resnet import build_resnet
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.training.config import TrainConfig
from siamkit.training.layout import unsafe_channels_last_convolutions, without_unsafe_channels_last
from siamkit.training.trainer import train

from .conftest import pattern_dataset


def test_narrow_strided_1x1_convolutions_are_found_and_nothing_else() -> None:
    # widths 8 -> 16 -> 32: the first projection shortcut reads 8 channels, the second 16
    assert unsafe_channels_last_convolutions(build_resnet((1, 32, 32), widths=(8, 16, 32))) == ["4.shortcut.0"]
    assert unsafe_channels_last_convolutions(build_resnet((1, 32, 32), widths=(16, 32, 64))) == []
    others = nn.Sequential(
        nn.Conv2d(8, 8, 3, stride=2),  # not 1x1
        nn.Conv2d(8, 8, 1),  # stride 1
        nn.Conv2d(32, 32, 1, stride=2, groups=4),  # 8 input channels per group: unsafe too
    )
    assert unsafe_channels_last_convolutions(others) == ["2"]


def test_the_layout_is_kept_where_it_is_safe_or_not_on_a_cpu(
    quick_config: TrainConfig, caplog: pytest.LogCaptureFixture
) -> None:
    narrow, wide = build_resnet((1, 32, 32), widths=(8, 16)), build_resnet((1, 32, 32), widths=(16, 32))
    with caplog.at_level(logging.WARNING, logger="siamkit.training.layout"):
        assert without_unsafe_channels_last(quick_config, wide, torch.device("cpu")) is quick_config
        assert without_unsafe_channels_last(quick_config, narrow, torch.device("meta")) is quick_config
        assert not caplog.records
        switched = without_unsafe_channels_last(quick_config, narrow, torch.device("cpu"))
    assert switched.channels_last is False and dataclasses.replace(switched, channels_last=True) == quick_config
    assert "oneDNN" in caplog.text and "4.shortcut.0" in caplog.text


def test_a_narrow_resnet_trains_in_the_default_layout_and_says_so(
    quick_config: TrainConfig, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(0)
    encoder = EncoderConfig("resnet", (1, 16, 16), 8, {"widths": [4, 8]})
    network = SiameseNetwork.from_config(SiameseConfig(encoder, ComparisonConfig("euclidean")))
    config = dataclasses.replace(quick_config, epochs=1, max_steps=2)
    with caplog.at_level(logging.WARNING, logger="siamkit.training.layout"):
        result = train(network, pattern_dataset(), config)
    assert "not channels-last" in caplog.text
    assert result.model.metadata["training"]["config"]["channels_last"] is False
    assert all(torch.isfinite(parameter).all() for parameter in result.model.network.parameters())
