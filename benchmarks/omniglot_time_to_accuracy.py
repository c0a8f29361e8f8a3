"""Omniglot time-to-accuracy (issue 3): train a preset, score held-out-alphabet one-shot runs as training goes.

Run from the repository root with the project's virtual environment active:

    OMP_NUM_THREADS=1 python benchmarks/omniglot_time_to_accuracy.py --preset omniglot-best --threads 1 \
        --output /tmp/omniglot-best --result benchmarks/results/omniglot_time_to_accuracy_best.json

It generates (once, with seed 0) 20 within-alphabet 20-way one-shot runs in Lake's format from the preset's
held-out validation alphabets (`data.held_out_groups`) into `--runs` (outside the repository: they are copies of
the data), trains the preset, and at every validation of the training loop (each epoch end) also scores those
runs with the current weights. It logs `(training seconds, step, accuracy)` to the result JSON, where training
seconds exclude the time spent scoring, and reports the time to 90% and the final accuracy of the bundle the run
writes (the best validation weights). `--max-steps` shortens a run; `--evaluate-only BUNDLE` just scores a bundle.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

import siamkit.training.trainer as trainer_module
from siamkit.atomic import write_text_atomic
from siamkit.evaluation.one_shot_runs import evaluate_one_shot_runs
from siamkit.evaluation.run_generator import make_one_shot_runs
from siamkit.model import SiameseModel
from siamkit.training.memory import keep_freed_memory_in_heap
from siamkit.training.presets import load_preset
from siamkit.training.recipe import TrainingRecipe, run_recipe
from verification_folds import apply_overrides

DEFAULT_RUNS = Path("/tmp/siamkit-omniglot-validation-runs")


def ensure_runs(runs: Path, data: str, alphabets: list[str]) -> None:
    """Writes the validation runs unless a folder made from the same alphabets is already there."""
    manifest = runs / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("alphabets") == alphabets:
        return
    make_one_shot_runs(data, runs, alphabets=alphabets, runs=20, ways=20, seed=0)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_to(points: list[dict[str, Any]], accuracy: float) -> float | None:
    """Training seconds at the first scoring that reached `accuracy`, or None."""
    return next((point["seconds"] for point in points if point["accuracy"] >= accuracy), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="omniglot-best")
    parser.add_argument("--data", default=None, help="Omniglot background zip (default: the preset's).")
    parser.add_argument("--output", type=Path, default=Path("/tmp/omniglot-time-to-accuracy"))
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="Where the validation runs are written.")
    parser.add_argument("--result", type=Path, default=None, help="Result JSON (default: benchmarks/results/...).")
    parser.add_argument("--max-steps", type=int, default=None, help="Override the preset's max_steps.")
    parser.add_argument(
        "--class-transforms", default=None, help="Override data.class_transforms: comma-separated, or 'none'."
    )
    parser.add_argument(
        "--groups-per-batch", type=int, default=None, help="Override training.groups_per_batch (0: not grouped)."
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: leaves a core to others).")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="section.key=JSON override of the preset."
    )
    parser.add_argument("--evaluate-only", type=Path, default=None, help="Only score this bundle on the runs.")
    arguments = parser.parse_args()

    torch.set_num_threads(arguments.threads)
    keep_freed_memory_in_heap()
    recipe = load_preset(arguments.preset, data=arguments.data, output=arguments.output)
    if arguments.overrides:
        recipe = TrainingRecipe.from_dict(apply_overrides(recipe.to_dict(), arguments.overrides))
    ensure_runs(arguments.runs, recipe.data.train, list(recipe.data.held_out_groups))
    if arguments.evaluate_only is not None:
        result = evaluate_one_shot_runs(SiameseModel.load(arguments.evaluate_only), arguments.runs)
        print(json.dumps(result.to_dict(), indent=2))
        return
    if arguments.max_steps is not None:
        recipe.training.max_steps = arguments.max_steps
    if arguments.class_transforms is not None:
        names = arguments.class_transforms.split(",")
        recipe.data.class_transforms = [] if names == ["none"] else names
    if arguments.groups_per_batch is not None:
        recipe.training.groups_per_batch = arguments.groups_per_batch or None
    recipe.training.show_progress = False

    points: list[dict[str, Any]] = []
    scoring_seconds = 0.0
    started = time.perf_counter()
    original_validate = trainer_module.validate

    def validate_and_score(network, data, preprocessing, config, device):  # type: ignore[no-untyped-def]
        """The trainer's validation, plus the within-alphabet runs scored with the current weights."""
        nonlocal scoring_seconds
        result = original_validate(network, data, preprocessing, config, device)
        scoring_started = time.perf_counter()
        was_training = network.training
        runs_result = evaluate_one_shot_runs(SiameseModel(network, preprocessing, device=device), arguments.runs)
        network.train(was_training)
        now = time.perf_counter()
        point = {
            "seconds": round(scoring_started - started - scoring_seconds, 1),
            "accuracy": runs_result.accuracy,
            "random_episodes_accuracy": result.one_shot_accuracy,
        }
        scoring_seconds += now - scoring_started
        points.append(point)
        print(json.dumps(point), flush=True)
        return result

    trainer_module.validate = validate_and_score
    try:
        trained = run_recipe(recipe)
    finally:
        trainer_module.validate = original_validate
    final = evaluate_one_shot_runs(trained.model, arguments.runs)
    for point, record in zip(points, [r for r in trained.history if "validation" in r], strict=False):
        point["step"] = record["step"]
    summary = {
        "benchmark": "omniglot_time_to_accuracy",
        "date": datetime.date.today().isoformat(),
        "preset": arguments.preset,
        "command": " ".join(["python", *sys.argv]),
        "machine": {
            "cpu": cpu_name(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "torch": torch.__version__,
            "threads": arguments.threads,
        },
        "validation_alphabets": list(recipe.data.held_out_groups),
        "runs": "20 within-alphabet 20-way runs, make-runs seed 0",
        "overrides": arguments.overrides,
        "max_steps": recipe.training.max_steps,
        "groups_per_batch": recipe.training.groups_per_batch,
        "steps": trained.steps,
        "training_seconds": round(trained.seconds - scoring_seconds, 1),
        "images_per_second": round(trained.images_per_second, 1),
        "points": points,
        "time_to_90_seconds": time_to(points, 0.90),
        "time_to_95_5_seconds": time_to(points, 0.955),
        "final_accuracy": final.accuracy,
        "final_per_run": final.per_run,
        "bundle": str(trained.bundle_path),
    }
    result_path = arguments.result or Path("benchmarks/results") / f"omniglot_time_to_accuracy_{arguments.preset}.json"
    write_text_atomic(result_path, json.dumps(summary, indent=2) + "\n")
    print(json.dumps({key: summary[key] for key in ("final_accuracy", "time_to_90_seconds", "training_seconds")}))


if __name__ == "__main__":
    main()
