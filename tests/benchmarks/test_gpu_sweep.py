"""benchmarks/gpu_sweep.py builds the commands it promises: its overrides become valid recipes of each task."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import ModuleType

import pytest

from siamkit.training.recipe import TrainingRecipe

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def gpu_sweep(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_sweep

    return gpu_sweep


def overrides_of(line: list[str]) -> dict[str, object]:
    return {
        value.partition("=")[0]: json.loads(value.partition("=")[2])
        for flag, value in itertools.pairwise(line)
        if flag == "--set"
    }


def test_faces_candidate_splits_the_budget_over_the_folds(gpu_sweep: ModuleType, tmp_path: Path) -> None:
    candidate = gpu_sweep.CANDIDATES["faces-conv4-96"]
    line = gpu_sweep.command("faces-conv4-96", candidate, tmp_path, tmp_path, tmp_path, 6.5, False, 0)
    assert Path(line[1]).name == "faces_kfold.py" and str(tmp_path / "orl_faces.zip") in line
    settings = overrides_of(line)
    assert settings["training.time_budget_minutes"] == pytest.approx(1.3)
    assert settings["training.device"] == "cuda" and settings["training.max_steps"] is None
    assert settings["network.encoder.input_shape"] == [1, 96, 80] and settings["preprocessing.image_size"] == [96, 80]


@pytest.mark.parametrize("name", ["omniglot-resnet-56", "signatures-resnet-96", "faces-conv4-96"])
def test_final_runs_write_a_valid_recipe_on_all_the_data(gpu_sweep: ModuleType, tmp_path: Path, name: str) -> None:
    candidate = gpu_sweep.CANDIDATES[name]
    line = gpu_sweep.command(f"final-{name}", candidate, tmp_path, tmp_path, tmp_path, 7.0, True, 2, "cpu")
    recipe = TrainingRecipe.from_file(Path(line[-1]))
    assert recipe.data.held_out_groups == []  # all 30 alphabets, all people, all writers
    assert recipe.training.device == "cpu" and recipe.training.seed == 2
    expected_budget = 7.0 * candidate.budget_share
    assert recipe.training.time_budget_minutes == pytest.approx(expected_budget, abs=1e-3)
    assert tuple(recipe.network.encoder.input_shape) == recipe.preprocessing.input_shape
