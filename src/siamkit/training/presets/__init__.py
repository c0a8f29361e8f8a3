"""Named training recipes shipped with siamkit (`siamkit train --preset NAME`).

A preset is a recipe JSON file in this folder, in the format `siamkit train --config` reads, so a user can copy
one, edit it and run it with `--config`. The data path and output folder in a preset are defaults for the shared
data layout; `load_preset` lets the caller replace them.
"""

from __future__ import annotations

import json
from pathlib import Path

from siamkit.errors import ConfigError
from siamkit.training.recipe import TrainingRecipe

PRESETS_DIRECTORY = Path(__file__).parent


def preset_names() -> list[str]:
    """The presets that ship with this installation, sorted."""
    return sorted(path.stem for path in PRESETS_DIRECTORY.glob("*.json"))


def preset_path(name: str) -> Path:
    """The recipe file of preset `name`; a ConfigError lists the choices when there is no such preset."""
    path = PRESETS_DIRECTORY / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names()) or '(none)'}")
    return path


def load_preset(name: str, data: str | None = None, output: str | Path | None = None) -> TrainingRecipe:
    """Reads preset `name` as a recipe, with its training data and output folder optionally replaced.

    Args:
        name: Preset name (a file stem in this folder), e.g. `signatures`.
        data: Training data to use instead of the preset's default path.
        output: Run folder to use instead of the preset's default.
    """
    recipe_data = json.loads(preset_path(name).read_text())
    if data is not None:
        recipe_data.setdefault("data", {})["train"] = data
    if output is not None:
        recipe_data.setdefault("training", {})["output_dir"] = str(output)
    return TrainingRecipe.from_dict(recipe_data)


__all__ = ["PRESETS_DIRECTORY", "load_preset", "preset_names", "preset_path"]
