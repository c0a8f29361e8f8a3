"""Recipes: JSON round trips, and runs from a recipe file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamkit.errors import ConfigError
from siamkit.training.recipe import TrainingRecipe, recipe_from_options, run_recipe

OPTIONS = dict(
    output=Path("runs/x"), data="faces", pairs=None, triplets=None, vectors=None, labels=None, validation=None,
    validation_classes=0.25, encoder="conv4", embedding_dim=16, comparison="cosine", normalize=True,
    loss="triplet", margin=0.3, mining="semi_hard", image_size=(20, 20), channels=1, invert=True,
    crop_to_ink=False, keep_aspect=False, epochs=2, max_steps=None, classes_per_batch=4, samples_per_class=4,
    learning_rate=1e-3, weight_decay=0.0, optimizer="adamw", schedule="cosine", warmup_steps=0, augment=True,
    early_stopping_metric="eer", patience=None, seed=3, device="cpu", checkpoint_every_steps=None,
)  # fmt: skip


def test_a_recipe_survives_json() -> None:
    recipe = recipe_from_options(**OPTIONS)  # type: ignore[arg-type]
    again = TrainingRecipe.from_dict(json.loads(json.dumps(recipe.to_dict())))
    assert again.to_dict() == recipe.to_dict()
    assert again.training.augmentation.enabled and again.training.loss_options == {"margin": 0.3}


def test_scan_options_reach_the_preprocessing() -> None:
    plain = recipe_from_options(**OPTIONS)  # type: ignore[arg-type]
    assert not plain.preprocessing.remove_background and not plain.preprocessing.binarize
    scans = recipe_from_options(**{**OPTIONS, "remove_background": True, "binarize": True})  # type: ignore[arg-type]
    assert scans.preprocessing.remove_background and scans.preprocessing.binarize
    assert TrainingRecipe.from_dict(json.loads(json.dumps(scans.to_dict()))).preprocessing.binarize


def test_the_train_command_offers_the_scan_options() -> None:
    from typer.testing import CliRunner

    from siamkit.cli import app

    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--remove-background" in result.output and "--binarize" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [({"encoder": "vgg"}, "unknown encoder"), ({"loss": "hinge"}, "unknown loss"),
     ({"mining": "hardest"}, "mining strategy"), ({"pairs": "p.csv"}, "exactly one")],
)  # fmt: skip
def test_bad_options_fail_before_reading_data(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        recipe_from_options(**{**OPTIONS, **change})  # type: ignore[arg-type]


def test_a_recipe_file_trains_and_is_saved_beside_the_model(tmp_path: Path) -> None:
    generator = np.random.default_rng(1)
    for label in range(4):
        prototype = np.kron(generator.integers(0, 256, size=(4, 4)), np.ones((5, 5)))
        (tmp_path / "data" / f"c{label}").mkdir(parents=True)
        for index in range(6):
            noisy = np.clip(prototype + generator.normal(0, 20, prototype.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(tmp_path / "data" / f"c{label}" / f"{index}.png")
    options = {**OPTIONS, "data": str(tmp_path / "data"), "output": tmp_path / "run", "validation_classes": 0.0}
    recipe = recipe_from_options(**options)  # type: ignore[arg-type]
    recipe.training.show_progress = False
    recipe_file = tmp_path / "recipe.json"
    recipe_file.write_text(json.dumps(recipe.to_dict()))
    result = run_recipe(TrainingRecipe.from_file(recipe_file))
    assert result.bundle_path is not None and (result.bundle_path / "config.json").is_file()
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["training"]["seed"] == 3


def test_a_broken_recipe_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "recipe.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"recipe\.json"):
        TrainingRecipe.from_file(broken)
    broken.write_text(json.dumps({"data": {"train": "x"}}))
    with pytest.raises(ConfigError, match="network"):
        TrainingRecipe.from_file(broken)


@pytest.mark.parametrize(
    ("augmentation", "message"),
    [({"rotation_degrees": "10"}, "rotation_degrees must be a number"),
     ({"elastic_pixels": [4]}, "elastic_pixels must be a number"),
     ({"scale_range": [0.8]}, "scale_range must be two numbers"),
     ({"reference_size": 105.5}, "reference_size must be a whole number"),
     ({"rotate": 10}, "unknown fields")],
)  # fmt: skip
def test_a_mistyped_augmentation_field_is_named(augmentation: dict, message: str) -> None:
    data = recipe_from_options(**OPTIONS).to_dict()  # type: ignore[arg-type]
    data["training"]["augmentation"] = {"enabled": True, **augmentation}
    with pytest.raises(ConfigError, match=message):
        TrainingRecipe.from_dict(data)
    data["training"]["learning_rate"] = "0.1"
    data["training"]["augmentation"] = {"enabled": True}
    with pytest.raises(ConfigError, match="training learning_rate must be a number"):
        TrainingRecipe.from_dict(data)


def test_keeping_freed_memory_is_reported_honestly() -> None:
    import subprocess
    import sys

    code = "from siamkit.training.memory import keep_freed_memory_in_heap as k; print(k())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() in {"True", "False"}


def test_a_loss_that_cannot_train_is_refused_before_the_run_folder_is_written(tmp_path: Path) -> None:
    for label in range(3):
        (tmp_path / "data" / f"c{label}").mkdir(parents=True)
        for index in range(4):
            Image.fromarray(np.full((20, 20), 60 * label + 10 * index, dtype=np.uint8)).save(
                tmp_path / "data" / f"c{label}" / f"{index}.png"
            )
    options = {
        **OPTIONS, "data": str(tmp_path / "data"), "output": tmp_path / "run", "validation_classes": 0.0,
        "comparison": "euclidean", "normalize": False, "loss": "multi_similarity", "margin": None, "mining": "all",
    }  # fmt: skip
    recipe = recipe_from_options(**options)  # type: ignore[arg-type]
    recipe.training.show_progress = False
    with pytest.raises(ConfigError, match="shapes the angles between embeddings only"):
        run_recipe(recipe)
    assert not (tmp_path / "run").exists()
