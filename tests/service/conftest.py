"""A tiny real model bundle for the service tests: 4x4 grey pixels are the embedding, Euclidean distance.

With identity weights two uniform images of grey levels `a` and `b` are `4 * |a - b| / 255` apart, so every
score the service returns can be checked by hand. The threshold is 1.0 (same when at most 1.0 apart) and a
Platt calibration maps the similarity (minus the distance) to a probability.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork

CALIBRATION = {"method": "platt", "slope": 3.0, "intercept": 2.0}


def identity_model(threshold: float | None = 1.0) -> SiameseModel:
    network = SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("mlp", (1, 4, 4), 16, {"hidden_dims": []}), ComparisonConfig("euclidean"))
    )
    with torch.no_grad():
        network.encoder[1].weight.copy_(torch.eye(16))
        network.encoder[1].bias.zero_()
    calibration = CALIBRATION if threshold is not None else None
    return SiameseModel(network, PreprocessingConfig(image_size=(4, 4)), threshold=threshold, calibration=calibration)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("service") / "model"
    identity_model().save(path)
    return path


@pytest.fixture(scope="session")
def uncalibrated_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model without a decision threshold, which the service refuses to serve."""
    path = tmp_path_factory.mktemp("service") / "uncalibrated"
    identity_model(threshold=None).save(path)
    return path
