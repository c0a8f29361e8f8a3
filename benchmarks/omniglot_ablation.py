"""Omniglot ablation (issue 3): the best preset with one idea removed at a time, at one short equal budget.

Run from the repository root with the project's virtual environment active:

    OMP_NUM_THREADS=1 python benchmarks/omniglot_ablation.py --variants best,no_class_expansion --max-steps 400 \
        --result benchmarks/results/omniglot_ablation.json

Every variant trains for `--max-steps` steps (its cosine schedule fitted to that budget) on the 25 training
alphabets and is scored on the 20 within-alphabet validation runs of `omniglot_time_to_accuracy.py` (generated
there the same way, seed 0), with and without test-time shifts. Results of earlier invocations in the result
file are kept, so variants can run in separate processes side by side.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from omniglot_time_to_accuracy import DEFAULT_RUNS, cpu_name, ensure_runs
from siamkit.atomic import write_text_atomic
from siamkit.evaluation.one_shot_runs import evaluate_one_shot_runs
from siamkit.training.memory import keep_freed_memory_in_heap
from siamkit.training.presets import load_preset
from siamkit.training.recipe import TrainingRecipe, run_recipe


def _no_class_expansion(recipe: TrainingRecipe) -> None:
    recipe.data.class_transforms = []


def _no_augmentation(recipe: TrainingRecipe) -> None:
    recipe.training.augmentation.enabled = False


def _size(pixels: int) -> Callable[[TrainingRecipe], None]:
    def change(recipe: TrainingRecipe) -> None:
        recipe.preprocessing.image_size = (pixels, pixels)
        recipe.network.encoder.input_shape = (1, pixels, pixels)

    return change


def _contrastive(recipe: TrainingRecipe) -> None:
    recipe.training.loss = "contrastive"
    recipe.training.loss_options = {"margin": 1.0}
    recipe.training.mining = "all"


def _supervised_contrastive(temperature: float) -> Callable[[TrainingRecipe], None]:
    def change(recipe: TrainingRecipe) -> None:
        recipe.training.loss = "supervised_contrastive"
        recipe.training.loss_options = {"temperature": temperature}
        recipe.training.mining = "all"

    return change


def _grouped(groups: int, rotations: bool = True) -> Callable[[TrainingRecipe], None]:
    def change(recipe: TrainingRecipe) -> None:
        recipe.training.groups_per_batch = groups
        if not rotations:
            recipe.data.class_transforms = []

    return change


# name -> (preset, change, what it tests)
VARIANTS: dict[str, tuple[str, Callable[[TrainingRecipe], None] | None, str]] = {
    "best": ("omniglot-best", None, "the best preset as shipped (budget aside)"),
    "no_class_expansion": ("omniglot-best", _no_class_expansion, "without rotated characters as new classes"),
    "no_augmentation": ("omniglot-best", _no_augmentation, "without affine distortions"),
    "size_28": ("omniglot-best", _size(28), "28x28 instead of 40x40 pixels"),
    "contrastive_all_pairs": ("omniglot-best", _contrastive, "contrastive loss on all pairs, not batch-hard triplets"),
    "grouped_2": ("omniglot-best", _grouped(2), "batches of 16 classes from each of 2 alphabets"),
    "grouped_4": ("omniglot-best", _grouped(4), "batches of 8 classes from each of 4 alphabets"),
    "grouped_8": ("omniglot-best", _grouped(8), "batches of 4 classes from each of 8 alphabets"),
    "no_class_expansion_grouped_4": (
        "omniglot-best",
        _grouped(4, rotations=False),
        "no rotated classes, batches of 8 classes from each of 4 alphabets",
    ),
    "koch": ("omniglot-koch", None, "the Koch-style preset (pairs, BCE on a learned |a-b| head, 105 px)"),
    "cpu": ("omniglot-cpu", None, "the CPU preset (ResNet 16-128 at 40 px, batch-hard triplets), budget aside"),
    "cpu_supervised_contrastive": (
        "omniglot-cpu",
        _supervised_contrastive(0.1),
        "the CPU preset with the supervised contrastive loss (temperature 0.1) instead of batch-hard triplets",
    ),
    "cpu_supervised_contrastive_t05": (
        "omniglot-cpu",
        _supervised_contrastive(0.05),
        "the CPU preset with the supervised contrastive loss at temperature 0.05",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="best,no_class_expansion", help=f"Comma-separated: {list(VARIANTS)}")
    parser.add_argument("--max-steps", type=int, default=400)
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS)
    parser.add_argument("--output", type=Path, default=Path("/tmp/omniglot-ablation"))
    parser.add_argument("--result", type=Path, default=Path("benchmarks/results/omniglot_ablation.json"))
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    keep_freed_memory_in_heap()
    names = [name.strip() for name in arguments.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    for name in names:
        preset, change, description = VARIANTS[name]
        recipe = load_preset(preset, output=arguments.output / name)
        ensure_runs(arguments.runs, recipe.data.train, list(recipe.data.held_out_groups))
        if change is not None:
            change(recipe)
        recipe.training.max_steps = arguments.max_steps
        recipe.training.show_progress = False
        started = time.perf_counter()
        trained = run_recipe(recipe)
        wall = time.perf_counter() - started
        plain = evaluate_one_shot_runs(trained.model, arguments.runs)
        shifted = evaluate_one_shot_runs(trained.model, arguments.runs, test_time_shift=1)
        row: dict[str, Any] = {
            "variant": name,
            "description": description,
            "preset": preset,
            "steps": trained.steps,
            "training_seconds": round(trained.seconds, 1),
            "wall_seconds_with_loading": round(wall, 1),
            "images_per_second": round(trained.images_per_second, 1),
            "accuracy": plain.accuracy,
            "accuracy_test_time_shift_1": shifted.accuracy,
            "date": datetime.date.today().isoformat(),
            "machine": {"cpu": cpu_name(), "torch": torch.__version__, "threads": arguments.threads},
        }
        print(json.dumps(row), flush=True)
        existing = json.loads(arguments.result.read_text()) if arguments.result.is_file() else {"rows": []}
        existing["rows"] = [old for old in existing["rows"] if old["variant"] != name] + [row]
        write_text_atomic(arguments.result, json.dumps(existing, indent=2) + "\n")


if __name__ == "__main__":
    main()
