"""Bundles with test-time views: the wrapped model embeds as the views' mean of the trained one, and bundles that
cannot take views are refused by name with nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import siamkit
from siamkit.bundle import load_bundle
from siamkit.comparisons import ComparisonConfig
from siamkit.data.augmentation import warp
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.ensemble import combine_bundles
from siamkit.errors import ConfigError
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.test_time_views import add_test_time_views

from .test_ensemble import SIDE, images, save_member  # noqa: F401  (images is a fixture)

DISTORTIONS = {"enabled": True, "rotation_degrees": 10.0, "probability": 1.0, "fill": 0.0}


def with_training_augmentation(path: Path, augmentation: dict[str, Any] | None = DISTORTIONS) -> Path:
    """Records a training augmentation in a bundle's metadata, as `siamkit train` does."""
    model = siamkit.load(path)
    model.metadata = {"training": {"config": {"augmentation": augmentation}}} if augmentation else {}
    model.save(path)
    return path


def test_the_wrapped_model_embeds_as_the_mean_over_views_of_the_trained_one(
    tmp_path: Path,
    images: list[np.ndarray],  # noqa: F811
) -> None:
    trained = with_training_augmentation(save_member(tmp_path / "trained", 0))
    fingerprint = add_test_time_views(trained, tmp_path / "views", views=5, seed=3)
    original, wrapped = siamkit.load(trained), siamkit.load(tmp_path / "views")
    assert wrapped.fingerprint == fingerprint != original.fingerprint
    assert wrapped.threshold is None  # new score scale: calibrate again
    assert wrapped.metadata["test_time_views"]["views"] == 5
    assert wrapped.metadata["test_time_views"]["source_fingerprint"] == original.fingerprint

    prepared = original.prepare(images)
    inputs = prepared.float() / 255
    transforms = wrapped.network.encoder.view_transforms  # type: ignore[union-attr]
    copies = [inputs] + [warp(inputs, transform, 0.0) for transform in transforms]
    with torch.no_grad():
        per_view = [F.normalize(original.network.embed(copy), dim=-1) for copy in copies]
    expected = F.normalize(torch.stack(per_view).mean(dim=0), dim=-1)  # the network normalises after the encoder
    torch.testing.assert_close(wrapped.embed(images), expected, atol=1e-5, rtol=1e-5)


def test_the_fill_is_moved_into_the_normalised_pixel_units(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("conv4", (1, SIDE, SIDE), 8, {"width": 4}), ComparisonConfig("euclidean"))
    )
    preprocessing = PreprocessingConfig(image_size=(SIDE, SIDE), mean=0.5, std=0.25)
    SiameseModel(network, preprocessing).save(tmp_path / "trained")
    with_training_augmentation(tmp_path / "trained", {**DISTORTIONS, "fill": 1.0})
    add_test_time_views(tmp_path / "trained", tmp_path / "views", views=2)
    _, _, config = load_bundle(tmp_path / "views")
    assert config["network"]["encoder"]["options"]["fill"] == pytest.approx((1.0 - 0.5) / 0.25)


def test_views_take_only_the_affine_part_of_the_training_distortions(tmp_path: Path) -> None:
    trained = with_training_augmentation(
        save_member(tmp_path / "trained", 0),
        {**DISTORTIONS, "thicken_strokes": 2, "elastic_pixels": 4.0, "elastic_grid": 3},
    )
    add_test_time_views(trained, tmp_path / "views", views=3)
    _, _, config = load_bundle(tmp_path / "views")
    assert config["network"]["encoder"]["options"]["augmentation"] == DISTORTIONS


def test_an_ensemble_takes_views_with_its_members_augmentation(
    tmp_path: Path,
    images: list[np.ndarray],  # noqa: F811
) -> None:
    members = [with_training_augmentation(save_member(tmp_path / name, seed)) for name, seed in (("a", 0), ("b", 1))]
    combine_bundles(members, tmp_path / "ensemble")
    add_test_time_views(tmp_path / "ensemble", tmp_path / "views", views=3)
    wrapped = siamkit.load(tmp_path / "views")
    assert wrapped.network.config.encoder.options["encoder"]["name"] == "ensemble"  # type: ignore[union-attr]
    assert wrapped.embed(images).shape == (len(images), 16)

    with_training_augmentation(members[1], {**DISTORTIONS, "rotation_degrees": 5.0})
    combine_bundles(members, tmp_path / "mixed")
    with pytest.raises(ConfigError, match="different augmentations"):
        add_test_time_views(tmp_path / "mixed", tmp_path / "refused", views=3)
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize(
    ("augmentation", "message"),
    [
        (None, "records no training augmentation"),
        ({**DISTORTIONS, "enabled": False}, "trained without augmentation"),
    ],
)
def test_a_model_without_usable_training_augmentation_is_refused(
    tmp_path: Path, augmentation: dict[str, Any] | None, message: str
) -> None:
    trained = with_training_augmentation(save_member(tmp_path / "trained", 0), augmentation)
    with pytest.raises(ConfigError, match=message):
        add_test_time_views(trained, tmp_path / "views", views=4)
    assert not (tmp_path / "views").exists()


def test_views_are_not_stacked_and_vector_models_are_refused(tmp_path: Path) -> None:
    trained = with_training_augmentation(save_member(tmp_path / "trained", 0))
    add_test_time_views(trained, tmp_path / "views", views=2)
    with pytest.raises(ConfigError, match="already has test-time views"):
        add_test_time_views(tmp_path / "views", tmp_path / "twice", views=2)

    torch.manual_seed(0)
    vectors = SiameseNetwork.from_config(SiameseConfig(EncoderConfig("mlp", (6,), 4, {}), ComparisonConfig()))
    SiameseModel(vectors, PreprocessingConfig(kind="vector", vector_length=6)).save(tmp_path / "vectors")
    with pytest.raises(ConfigError, match="reads vectors"):
        add_test_time_views(tmp_path / "vectors", tmp_path / "refused", views=2)


def test_the_cli_writes_the_bundle_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    trained = with_training_augmentation(save_member(tmp_path / "trained", 0))
    command = [sys.executable, "-m", "siamkit", "test-time-views", "--model", str(trained)]
    completed = subprocess.run(
        [*command, "--views", "3", "--output", str(tmp_path / "views")], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert "3 views per image" in completed.stdout and "siamkit calibrate" in completed.stdout
    assert siamkit.load(tmp_path / "views").network.config.encoder.name == "test_time_views"  # type: ignore[union-attr]

    refused = subprocess.run(
        [*command, "--views", "1", "--output", str(tmp_path / "one")], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "views must be a whole number of at least 2" in refused.stderr
    assert not (tmp_path / "one").exists()
