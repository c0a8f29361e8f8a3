"""The training-cost estimate times presets and recipe files alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siamkit.training.presets import load_preset

from .conftest import import_benchmark, run_benchmark


def small_signature_recipe(path: Path, stem_stride: int) -> Path:
    """The `signatures-cpu` preset shrunk to a few writers of a small input, so a step takes milliseconds."""
    recipe = load_preset("signatures-cpu").to_dict()
    recipe["preprocessing"]["image_size"] = [32, 48]
    recipe["network"]["encoder"]["input_shape"] = [1, 32, 48]
    recipe["network"]["encoder"]["options"] = {"widths": [4, 8], "stem_stride": stem_stride}
    recipe["training"]["classes_per_batch"] = 2
    recipe["training"]["samples_per_class"] = 2
    path.write_text(json.dumps(recipe))
    return path


def test_a_step_of_a_recipe_file_is_timed_with_its_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cost = import_benchmark(monkeypatch, "preset_training_cost")
    recipe = cost.TrainingRecipe.from_file(small_signature_recipe(tmp_path / "r.json", stem_stride=2))
    seconds, batch = cost.seconds_per_step(recipe, steps=1)
    # Two writers, each with two genuine signatures and as many forgeries.
    assert batch == 8
    assert 0 < seconds < 30


def test_recipe_files_are_reported_one_line_each(tmp_path: Path) -> None:
    first = small_signature_recipe(tmp_path / "stride1.json", stem_stride=1)
    second = small_signature_recipe(tmp_path / "stride2.json", stem_stride=2)
    completed = run_benchmark(
        "preset_training_cost.py", "--threads", "1", "--steps", "1", "--recipe", str(first), "--recipe", str(second)
    )
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [line["recipe"] for line in lines] == [f"recipe {first}", f"recipe {second}"]
    assert all(line["images_per_second"] > 0 and line["max_steps"] == 1420 for line in lines)
    assert all(line["estimated_minutes"] > 0 for line in lines)
