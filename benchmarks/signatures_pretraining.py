"""Does pretraining the signature encoder on Omniglot's handwritten characters help on unseen writers?

Every signature model so far fits its 35 training writers perfectly and generalises from too few of them
(docs/benchmarks.md, "Signatures and faces"). Omniglot's 964 characters, each drawn by 20 people, are pen
strokes too, and far more varied; an encoder that first learns to tell characters apart across drawers only has
to adapt to signatures. This script measures it on the fixed CEDAR split (writers 1-35 train, 36-45 test) with
the SigNet protocol, in one process:

1. pretrain the signature preset's network on all 30 Omniglot background alphabets (the preset's
   preprocessing without background removal, which 1-bit characters do not need; batch-hard triplets on
   characters, as the `omniglot-cpu` preset trains), for a time budget;
2. train the signature preset on writers 1-35 from random weights, and again from the pretrained weights
   (`training.initial_weights`), with the same seeds and steps;
3. report both held-out EERs and AUCs.

    OMP_NUM_THREADS=1 python benchmarks/signatures_pretraining.py --preset signatures-cpu --threads 1 \\
        --pretrain-minutes 10 --json-out benchmarks/results/signatures_pretraining.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from siamkit.training.config import TrainConfig
from siamkit.training.presets import preset_path
from siamkit.training.recipe import DataSpec, TrainingRecipe, run_recipe
from verification_folds import (
    add_run_arguments,
    extract_classes,
    machine,
    parse_ranges,
    preset_recipe,
    summary,
    train_and_evaluate,
    write_results,
    writer_split,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CEDAR = ROOT.parent / "shared" / "data" / "cedar" / "cedar_dev.zip"
DEFAULT_OMNIGLOT = ROOT.parent / "shared" / "data" / "omniglot" / "images_background.zip"


def pretraining_recipe(target: TrainingRecipe, omniglot: Path, output: Path, minutes: float) -> TrainingRecipe:
    """The target's network and preprocessing (background removal off), trained on Omniglot characters with
    the `omniglot-cpu` preset's loop settings for `minutes`."""
    character_training = json.loads(preset_path("omniglot-cpu").read_text())["training"]
    character_training.update(
        output_dir=str(output),
        max_steps=None,
        epochs=1_000_000,
        time_budget_minutes=minutes,
        device=target.training.device,
        show_progress=False,
        seed=target.training.seed,
    )
    return TrainingRecipe(
        data=DataSpec(train=str(omniglot), kind="images"),
        network=dataclasses.replace(target.network),
        preprocessing=dataclasses.replace(target.preprocessing, remove_background=False),
        training=TrainConfig(**character_training),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_CEDAR, help="CEDAR zip (cedar/<W>/...).")
    parser.add_argument("--omniglot", type=Path, default=DEFAULT_OMNIGLOT, help="Omniglot background zip.")
    parser.add_argument("--preset", default="signatures-cpu")
    parser.add_argument("--train-writers", default="1-35")
    parser.add_argument("--test-writers", default="36-45")
    parser.add_argument("--pretrain-minutes", type=float, default=10.0)
    parser.add_argument("--pretrained", type=Path, default=None, help="Reuse this pretrained bundle instead.")
    parser.add_argument("--seeds", default="0", help="Fine-tuning seeds, e.g. 0-2.")
    add_run_arguments(parser, default_output=Path("runs/signatures_pretraining"))
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    torch.set_num_threads(arguments.threads)

    train_writers, test_writers = writer_split(parser, arguments.train_writers, arguments.test_writers)
    results: dict[str, Any] = {"preset": arguments.preset, "overrides": arguments.overrides, "runs": []}
    with tempfile.TemporaryDirectory(prefix="siamkit-signatures-") as folder:
        train = extract_classes(arguments.data, "cedar", train_writers, Path(folder) / "train")
        test = extract_classes(arguments.data, "cedar", test_writers, Path(folder) / "test")
        pretrained = arguments.pretrained
        if pretrained is None:
            target = preset_recipe(arguments.preset, train, arguments.output / "target", arguments.overrides)
            pretraining_output = arguments.output / "pretraining"
            pretraining = run_recipe(
                pretraining_recipe(target, arguments.omniglot, pretraining_output, arguments.pretrain_minutes)
            )
            assert pretraining.bundle_path is not None
            pretrained = pretraining.bundle_path
            results["pretraining"] = {
                "steps": pretraining.steps,
                "seconds": round(pretraining.seconds, 1),
                "images_per_second": round(pretraining.images_per_second, 1),
            }
            print(json.dumps({"pretraining": results["pretraining"]}), flush=True)
        results["pretrained_bundle"] = str(pretrained)
        for seed in parse_ranges(arguments.seeds):
            for start in ("random", "pretrained"):
                overrides = [*arguments.overrides, f"training.seed={seed}"]
                if start == "pretrained":
                    overrides.append(f"training.initial_weights={json.dumps(str(pretrained))}")
                output = arguments.output / f"{start}-seed{seed}"
                recipe = preset_recipe(arguments.preset, train, output, overrides)
                result, _, _ = train_and_evaluate(recipe, test, protocol="signatures")
                run = {"start": start, "seed": seed, **result}
                results["runs"].append(run)
                shown = ("start", "seed", "eer", "auc", "training_eer")
                print(json.dumps({key: run[key] for key in shown}), flush=True)
    for start in ("random", "pretrained"):
        runs = [run for run in results["runs"] if run["start"] == start]
        results[start] = {"eer": summary([run["eer"] for run in runs]), "auc": summary([run["auc"] for run in runs])}
    ratio = results["pretrained"]["eer"]["mean"] / results["random"]["eer"]["mean"]
    results["eer_ratio_pretrained_to_random"] = ratio
    results["machine"] = machine()
    headline = ("random", "pretrained", "eer_ratio_pretrained_to_random")
    print(json.dumps({key: results[key] for key in headline}, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
