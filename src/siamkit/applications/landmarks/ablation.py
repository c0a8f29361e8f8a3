"""The ablation of the landmark experiment: the post's set-up, each fix alone, each fix left out, all fixes.

Each fix is a set of `LandmarkExperimentConfig` overrides applied to `LandmarkExperimentConfig.original()`;
applying all of them in order gives `LandmarkExperimentConfig.fixed()`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from siamkit.applications.landmarks.experiment import (
    LandmarkExperimentConfig,
    LandmarkExperimentResult,
    run_landmark_experiment,
    summarize_results,
)
from siamkit.errors import ConfigError


@dataclass(frozen=True)
class Fix:
    """One repair of the post's set-up.

    Attributes:
        name: Short identifier, used on the command line.
        description: What the fix changes, for tables.
        overrides: The config fields it sets.
    """

    name: str
    description: str
    overrides: dict[str, Any]


FIXES: tuple[Fix, ...] = (
    Fix("distance_form", "Euclidean embedding distance vs Euclidean target", {"distance_form": "euclidean"}),
    Fix("broadcast_bug", "per-pair loss, no (batch, batch) broadcast", {"broadcast_bug": False}),
    Fix("output_activation", "linear output instead of sigmoid", {"output_activation": "none"}),
    # Same 400 steps as the post's 100 epochs over 435 pairs, but each on fresh random pairs of 4096 points.
    Fix("training_data", "4096 fresh training points", {"training_points": 4096, "steps": 400}),
    Fix(
        "training_budget",
        "1500 steps, lr 3e-3 with cosine decay",
        {"steps": 1500, "learning_rate": 3e-3, "learning_rate_schedule": "cosine"},
    ),
    Fix(
        "input_preparation", "squared, whitened distance inputs", {"input_transform": "squared", "whiten_inputs": True}
    ),
)


@dataclass
class AblationRow:
    """One configuration of the ablation, summarised over seeds.

    Attributes:
        name: `original`, `only <fix>`, `all but <fix>` or `all fixes`.
        description: What differs from the original.
        results: One result per seed.
    """

    name: str
    description: str
    results: list[LandmarkExperimentResult]

    def summary(self) -> dict[str, Any]:
        """Name, description, and mean and standard deviation over seeds of every score."""
        return {"name": self.name, "description": self.description, **summarize_results(self.results)}


def fix_by_name(name: str) -> Fix:
    """The fix called `name`; a ConfigError lists the valid names otherwise."""
    for fix in FIXES:
        if fix.name == name:
            return fix
    raise ConfigError(f"unknown fix {name!r}; choose from {', '.join(fix.name for fix in FIXES)}")


def apply_fixes(base: LandmarkExperimentConfig, fixes: Sequence[Fix]) -> LandmarkExperimentConfig:
    """`base` with the overrides of `fixes` applied in order."""
    config = base
    for fix in fixes:
        config = dataclasses.replace(config, **fix.overrides)
    return config


def ablation_configs(
    base: LandmarkExperimentConfig | None = None, leave_one_out: bool = True
) -> list[tuple[str, str, LandmarkExperimentConfig]]:
    """Named configurations: original, each fix alone, (optionally) all but each fix, and all fixes."""
    original = base or LandmarkExperimentConfig.original()
    configs = [("original", "the post's set-up", original)]
    configs += [(f"only {fix.name}", fix.description, apply_fixes(original, [fix])) for fix in FIXES]
    if leave_one_out:
        for left_out in FIXES:
            kept = [fix for fix in FIXES if fix is not left_out]
            configs.append(
                (f"all but {left_out.name}", f"all fixes except: {left_out.description}", apply_fixes(original, kept))
            )
    configs.append(("all fixes", "every fix above", apply_fixes(original, FIXES)))
    return configs


def run_ablation(
    seeds: Sequence[int], base: LandmarkExperimentConfig | None = None, leave_one_out: bool = True
) -> list[AblationRow]:
    """Runs every ablation configuration for every seed (serially)."""
    if not seeds:
        raise ConfigError("the ablation needs at least one seed")
    rows = []
    for name, description, config in ablation_configs(base, leave_one_out):
        results = [run_landmark_experiment(dataclasses.replace(config, seed=seed)) for seed in seeds]
        rows.append(AblationRow(name, description, results))
    return rows
