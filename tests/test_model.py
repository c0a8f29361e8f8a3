"""The inference API: embed, verify and classify_one_shot on every kind of input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError, DataError
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


def identity_model(threshold: float | None = 0.5) -> SiameseModel:
    """A model whose 'encoder' just flattens 4x4 images, so expected scores can be computed by hand."""
    config = SiameseConfig(EncoderConfig("mlp", (1, 4, 4), 16, {"hidden_dims": []}), ComparisonConfig("euclidean"))
    network = SiameseNetwork.from_config(config)
    linear = network.encoder[1]
    with torch.no_grad():
        linear.weight.copy_(torch.eye(16))
        linear.bias.zero_()
    return SiameseModel(network, PreprocessingConfig(image_size=(4, 4)), threshold=threshold)


def square(value: int) -> np.ndarray:
    return np.full((4, 4), value, dtype=np.uint8)


def test_verify_scores_with_the_comparison_and_applies_the_threshold() -> None:
    model = identity_model(threshold=1.0)
    result = model.verify(square(0), square(51))  # 0.2 per pixel -> distance 0.2 * 4 = 0.8
    assert result.score == pytest.approx(0.8, abs=1e-5)
    assert result.same and result.threshold == 1.0
    assert not model.verify(square(0), square(255)).same  # distance 4


def test_inputs_may_be_paths_bytes_pil_images_or_arrays(tmp_path: Path) -> None:
    model = identity_model()
    path = tmp_path / "a.png"
    Image.fromarray(square(200)).save(path)
    expected = model.embed(square(200))
    for source in (path, str(path), path.read_bytes(), Image.open(path)):
        assert torch.equal(model.embed(source), expected)
    assert model.embed([path, square(0)]).shape == (2, 16)


def test_classify_one_shot_picks_the_nearest_support() -> None:
    model = identity_model()
    result = model.classify_one_shot(square(90), {"dark": square(0), "mid": square(100), "light": square(255)})
    assert result.label == "mid" and result.index == 1
    assert result.labels == ["dark", "mid", "light"]
    assert np.argmin(result.scores) == 1
    assert model.classify_one_shot(square(250), [square(0), square(255)]).label == "1"


def test_errors_are_clear() -> None:
    model = identity_model(threshold=None)
    with pytest.raises(ConfigError, match="calibrate"):
        model.verify(square(0), square(1))
    with pytest.raises(DataError, match="no images"):
        model.embed([])
    with pytest.raises(DataError, match="empty"):
        model.embed(b"")
    with pytest.raises(DataError, match="support"):
        model.classify_one_shot(square(0), [])
