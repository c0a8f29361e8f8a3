"""The Omniglot presets and the recipe fields they use: held-out alphabets and rotated classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.data.image_folder import ImageDataset
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import ConfigError
from siamkit.training.presets import load_preset, preset_names
from siamkit.training.recipe import DataSpec, TrainingRecipe, load_training_data, run_recipe

VALIDATION_ALPHABETS = ["Armenian", "Bengali", "Early_Aramaic", "Futurama", "Japanese_(katakana)"]


def write_alphabets(root: Path, names: list[str], characters: int = 3, drawers: int = 3) -> Path:
    """Omniglot's layout with random 12x12 strokes: names/characterNN/<n>_<drawer>.png."""
    generator = np.random.default_rng(0)
    for alphabet in names:
        for character in range(1, characters + 1):
            folder = root / alphabet / f"character{character:02d}"
            folder.mkdir(parents=True)
            prototype = generator.random((12, 12)) > 0.7
            for drawer in range(1, drawers + 1):
                image = np.where(prototype, 0, 255).astype(np.uint8)
                Image.fromarray(image).save(folder / f"{character:04d}_{drawer:02d}.png")
    return root


def test_held_out_groups_become_validation_and_training_classes_are_expanded(tmp_path: Path) -> None:
    data = write_alphabets(tmp_path / "background", ["Alpha", "Beta", "Gamma"])
    spec = DataSpec(train=str(data), held_out_groups=["Beta"], class_transforms=["identity", "rotate90"])
    train, validation = load_training_data(spec, PreprocessingConfig(image_size=(12, 12)))
    assert isinstance(train, ImageDataset) and isinstance(validation, ImageDataset)
    assert validation.class_names == ["Beta/character01", "Beta/character02", "Beta/character03"]
    assert train.num_classes == 2 * 3 * 2
    assert not any(name.startswith("Beta/") for name in train.class_names)
    original = train.images[train.labels == train.class_names.index("Alpha/character02/identity")]
    rotated = train.images[train.labels == train.class_names.index("Alpha/character02/rotate90")]
    assert torch.equal(rotated, original.rot90(1, (-2, -1)))


def test_unknown_held_out_group_or_transform_is_a_config_error(tmp_path: Path) -> None:
    data = write_alphabets(tmp_path / "background", ["Alpha", "Beta"])
    with pytest.raises(ConfigError, match="Omega"):
        load_training_data(DataSpec(train=str(data), held_out_groups=["Omega"]), PreprocessingConfig())
    with pytest.raises(ConfigError, match="unknown class transforms"):
        load_training_data(DataSpec(train=str(data), class_transforms=["shear"]), PreprocessingConfig())


@pytest.mark.parametrize("name", ["omniglot-best", "omniglot-cpu", "omniglot-koch"])
def test_presets_hold_out_the_validation_alphabets_and_survive_json(name: str) -> None:
    assert name in preset_names()
    recipe = load_preset(name)
    assert recipe.data.held_out_groups == VALIDATION_ALPHABETS
    assert recipe.data.train.endswith("omniglot/images_background.zip")
    assert recipe.training.augmentation.enabled
    assert TrainingRecipe.from_dict(json.loads(json.dumps(recipe.to_dict()))).to_dict() == recipe.to_dict()


def test_koch_preset_is_kochs_regime() -> None:
    recipe = load_preset("omniglot-koch")
    assert recipe.network.encoder.name == "koch" and recipe.preprocessing.image_size == (105, 105)
    assert recipe.network.comparison.name == "learned_head"
    assert recipe.network.comparison.options["features"] == ["absolute_difference"]
    assert recipe.training.loss == "binary_cross_entropy" and not recipe.data.class_transforms


@pytest.mark.parametrize("name", ["omniglot-best", "omniglot-cpu", "omniglot-koch"])
def test_presets_train_on_omniglot_layout(name: str, tmp_path: Path) -> None:
    data = write_alphabets(tmp_path / "background", [*VALIDATION_ALPHABETS, "Latin", "Greek"])
    recipe = load_preset(name, data=str(data), output=tmp_path / "run")
    recipe.training.max_steps = 2
    recipe.training.classes_per_batch = 4
    if recipe.training.groups_per_batch is not None:
        recipe.training.groups_per_batch = 2  # Latin and Greek are the only training alphabets here
    recipe.training.validation_episodes = 5
    result = run_recipe(recipe)
    assert result.steps == 2 and result.bundle_path is not None
    assert result.best_validation is not None and result.best_validation["ways"] == 15
