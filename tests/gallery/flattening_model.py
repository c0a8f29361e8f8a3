"""A model whose embeddings are its flattened inputs, so every gallery score can be worked out by hand."""

from __future__ import annotations

import torch

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


def flattening_model(
    height: int = 4,
    width: int = 4,
    comparison: str = "euclidean",
    threshold: float | None = 1.0,
    scale: float = 1.0,
) -> SiameseModel:
    """Embeds a `height x width` grey image as its `height * width` pixel values (times `scale`)."""
    size = height * width
    config = SiameseConfig(
        EncoderConfig("mlp", (1, height, width), size, {"hidden_dims": []}), ComparisonConfig(comparison)
    )
    network = SiameseNetwork.from_config(config)
    linear = network.encoder.get_submodule("1")
    assert isinstance(linear, torch.nn.Linear)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(size) * scale)
        linear.bias.zero_()
    return SiameseModel(network, PreprocessingConfig(image_size=(height, width)), threshold=threshold)
