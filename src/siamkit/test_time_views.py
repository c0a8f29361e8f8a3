"""Wrapping a trained bundle so that it embeds every image through fixed test-time views.

The new bundle's encoder is `siamkit.encoders.test_time_views` around the trained one: each image is embedded
as the mean of its own unit embedding and those of `views - 1` fixed affine distortions of it, drawn from the
distortions the model was trained with. It costs `views` times the embedding work. Scores move to a new scale,
so it is written without a decision threshold, as an ensemble is.

    siamkit test-time-views --model runs/signatures/model --views 8 --output models/signatures-views
    siamkit calibrate --model models/signatures-views --data calibration/ --protocol signatures --eer
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from siamkit.bundle import load_bundle, save_bundle
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError
from siamkit.network import SiameseConfig, SiameseNetwork

logger = logging.getLogger(__name__)

# Training distortions that are not views (see `training_augmentation`).
_NOT_VIEWS = ("thicken_strokes", "elastic_pixels", "elastic_grid")


def training_augmentation(metadata: dict[str, Any], path: Path) -> dict[str, Any]:
    """The affine augmentation a bundle was trained with, from its metadata (an ensemble's: its members', which
    must agree); stroke thickening and elastic bends are left out.

    Raises:
        ConfigError: Nothing recorded, training without augmentation, or members trained with different ones.
    """
    members = metadata.get("ensemble", {}).get("members")
    records = [member.get("metadata", {}) for member in members] if members else [metadata]
    found = [record.get("training", {}).get("config", {}).get("augmentation") for record in records]
    if any(augmentation is None for augmentation in found):
        raise ConfigError(f"{path}: the bundle records no training augmentation to draw views from")
    if any(augmentation != found[0] for augmentation in found):
        raise ConfigError(f"{path}: its ensemble members were trained with different augmentations")
    if not found[0].get("enabled"):
        raise ConfigError(f"{path}: the model was trained without augmentation; views would be new to it")
    # Views are the affine part of the training distortions: thicker strokes or an elastic bend, fixed once
    # for every image, would change the images rather than look at them from another angle.
    return {key: value for key, value in found[0].items() if key not in _NOT_VIEWS}


def add_test_time_views(
    model_path: str | Path, output: str | Path, views: int, seed: int = 0, half_precision: bool = False
) -> str:
    """Writes a copy of a bundle that embeds each image through `views` fixed views; returns its fingerprint.

    Args:
        model_path: A trained bundle (an ensemble bundle too) whose metadata records its training augmentation.
        output: The new bundle folder, written atomically.
        views: Views per image, the image itself included (at least 2).
        seed: Draws the distortions.
        half_precision: Store the weights as float16, as `save_bundle` does.

    Raises:
        ConfigError: Not an image model, a half-twin network, a model that already has views, or no usable
            training augmentation (named in the message).
        BundleError: The bundle is missing or damaged.
    """
    path = Path(model_path)
    network, preprocessing, config = load_bundle(path)
    if preprocessing.kind != "image" or network.config is None:
        raise ConfigError(f"{path}: test-time views distort images; this model reads {preprocessing.kind}s")
    if network.is_half_twin:
        raise ConfigError(f"{path}: a half-twin network (one encoder per input) cannot take test-time views")
    inner = network.config.encoder
    if inner.name == "test_time_views":
        raise ConfigError(f"{path}: already has test-time views; wrap the bundle it was made from")
    metadata = dict(config.get("metadata") or {})
    augmentation = training_augmentation(metadata, path)
    # The distortions' fill is on the [0, 1] pixel scale; the encoder reads normalised pixels.
    fill = (float(augmentation.get("fill", 0.0)) - preprocessing.mean) / preprocessing.std
    wrapped_config = SiameseConfig(
        encoder=EncoderConfig(
            name="test_time_views",
            input_shape=tuple(inner.input_shape),
            embedding_dim=inner.embedding_dim,
            options={
                "encoder": inner.to_dict(),
                "views": views,
                "seed": seed,
                "augmentation": augmentation,
                "fill": fill,
            },
        ),
        comparison=network.config.comparison,
        normalize_embeddings=network.config.normalize_embeddings,
    )
    wrapped = SiameseNetwork.from_config(wrapped_config)
    wrapped.encoder.inner.load_state_dict(network.encoder.state_dict())  # type: ignore[union-attr]
    wrapped.comparison.load_state_dict(network.comparison.state_dict())
    metadata["test_time_views"] = {"source": str(path), "source_fingerprint": config["fingerprint"], "views": views}
    fingerprint = save_bundle(output, wrapped, preprocessing, metadata=metadata, half_precision=half_precision)
    logger.info("wrote %s: %s with %d test-time views", output, path, views)
    return fingerprint
