"""benchmarks/signatures_pretraining.py: the pretraining recipe keeps the signature network and preprocessing."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from siamkit.training.presets import load_preset

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def pretraining(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import signatures_pretraining

    return signatures_pretraining


def test_pretraining_trains_the_signature_network_on_characters(pretraining: ModuleType, tmp_path: Path) -> None:
    target = load_preset("signatures-cpu")
    recipe = pretraining.pretraining_recipe(target, tmp_path / "omniglot.zip", tmp_path / "out", 2.5)
    assert recipe.network.to_dict() == target.network.to_dict()
    assert recipe.preprocessing.image_size == target.preprocessing.image_size
    assert recipe.preprocessing.crop_to_ink and recipe.preprocessing.invert
    assert target.preprocessing.remove_background and not recipe.preprocessing.remove_background
    assert recipe.data.kind == "images" and recipe.data.train == str(tmp_path / "omniglot.zip")
    assert recipe.training.time_budget_minutes == 2.5 and recipe.training.max_steps is None
    assert recipe.training.loss == load_preset("omniglot-cpu").training.loss
    assert recipe.training.output_dir == tmp_path / "out"
