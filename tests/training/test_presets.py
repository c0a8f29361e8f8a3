"""The shipped presets: each is a valid recipe, overrides work, and a bad name is a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from siamkit.errors import ConfigError
from siamkit.network import SiameseNetwork
from siamkit.training.presets import load_preset, preset_names, preset_path
from siamkit.training.recipe import TrainingRecipe

# A bundle must stay at most 20 MB; float32 weights take 4 bytes each.
MAX_BUNDLE_BYTES = 20_000_000


def test_the_signature_and_face_presets_ship() -> None:
    assert {"signatures", "faces"} <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_is_a_valid_recipe(name: str) -> None:
    recipe = load_preset(name)
    assert isinstance(recipe, TrainingRecipe)
    assert TrainingRecipe.from_dict(recipe.to_dict()).to_dict() == recipe.to_dict()
    if recipe.preprocessing.kind == "image":
        assert tuple(recipe.network.encoder.input_shape) == recipe.preprocessing.input_shape


@pytest.mark.parametrize(("name", "kind", "data"), [
    ("signatures", "signatures", "../shared/data/cedar/cedar_dev.zip"),
    ("faces", "images", "../shared/data/orl_faces/orl_faces.zip"),
])  # fmt: skip
def test_signature_and_face_presets_default_to_the_shared_data_and_build_small_networks(
    name: str, kind: str, data: str
) -> None:
    recipe = load_preset(name)
    assert (recipe.data.kind, recipe.data.train) == (kind, data)
    network = SiameseNetwork.from_config(recipe.network)
    assert sum(parameter.numel() for parameter in network.parameters()) * 4 < MAX_BUNDLE_BYTES


def test_data_and_output_overrides() -> None:
    recipe = load_preset("faces", data="my_faces.zip", output="runs/mine")
    assert recipe.data.train == "my_faces.zip"
    assert str(recipe.training.output_dir) == "runs/mine"
    assert load_preset("faces").data.train != "my_faces.zip"


def test_an_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'nope'.*signatures"):
        preset_path("nope")


def test_train_with_an_unknown_preset_exits_2_with_one_line() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "siamkit.cli", "train", "--preset", "nope"], capture_output=True, text=True,
        timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown preset 'nope'" in lines[0]
