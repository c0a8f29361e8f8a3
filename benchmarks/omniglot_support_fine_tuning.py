"""Omniglot one-shot runs with the encoder fine-tuned on each run's own 20 training images (issue 3 ablation).

A run's 20 training images are the only labelled examples of its alphabet the model ever sees, and its errors
are look-alikes within that alphabet. Fine-tuning on them (a copy of the encoder per run, the run's 20 images as
20 classes, several randomly distorted views of each, batch-hard triplets as in training) teaches the network
what separates exactly these characters before it classifies the run's test items. It never looks at the test
items, so every decision is still "the most similar training image" for one item at a time.

The plain bundle is scored on the same runs in the same pass, as the baseline. Every fine-tuning setting in
`--settings` (`STEPS:LEARNING_RATE`, comma-separated) is scored from the same starting weights.

    OMP_NUM_THREADS=1 python benchmarks/omniglot_support_fine_tuning.py --model models/omniglot \\
        --runs /tmp/siamkit-omniglot-validation-runs --settings 10:1e-4,30:1e-4 \\
        --json-out benchmarks/results/omniglot_support_fine_tuning.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

import siamkit
from siamkit.data.augmentation import AugmentationConfig, augment_images
from siamkit.data.preprocessing import normalize_batch
from siamkit.evaluation.one_shot_runs import read_one_shot_runs, run_similarities
from siamkit.losses.triplet import TripletLoss
from siamkit.mining.objective import in_batch_loss
from siamkit.model import SiameseModel
from siamkit.network import SiameseNetwork
from verification_folds import machine, write_results


@dataclass(frozen=True)
class FineTuning:
    """One fine-tuning setting: optimiser steps on the run's training images and the AdamW learning rate."""

    steps: int
    learning_rate: float
    views_per_image: int = 4
    margin: float = 0.3

    @property
    def name(self) -> str:
        return f"{self.steps}:{self.learning_rate:g}"


def parse_settings(text: str) -> list[FineTuning]:
    """`"10:1e-4,30:3e-4"` -> settings; a malformed entry stops the script with a one-line message."""
    settings = []
    for entry in text.split(","):
        steps, _, rate = entry.partition(":")
        try:
            settings.append(FineTuning(int(steps), float(rate)))
        except ValueError:
            raise SystemExit(f"--settings: {entry!r} is not STEPS:LEARNING_RATE") from None
    return settings


def training_augmentation(model: SiameseModel) -> AugmentationConfig:
    """The affine distortions the bundle was trained with (Koch's defaults if its metadata has none)."""
    recorded = model.metadata.get("training", {}).get("config", {}).get("augmentation")
    config = AugmentationConfig.from_dict(recorded) if recorded else AugmentationConfig()
    config.enabled = True
    return config


def fine_tuned_network(
    model: SiameseModel,
    support: torch.Tensor,
    setting: FineTuning,
    augmentation: AugmentationConfig,
    seed: int,
) -> SiameseNetwork:
    """A copy of the bundle's network trained for `setting.steps` steps on one run's training images.

    Batch norm keeps the bundle's running statistics (eval mode): 20 images are too few to re-estimate them.
    """
    network = copy.deepcopy(model.network)
    network.eval()
    optimizer = torch.optim.AdamW(network.parameters(), lr=setting.learning_rate, weight_decay=0.0)
    loss = TripletLoss(setting.margin)
    generator = torch.Generator().manual_seed(seed)
    views = support.repeat(setting.views_per_image, 1, 1, 1).float().div_(255.0)
    labels = torch.arange(support.shape[0]).repeat(setting.views_per_image)
    for _ in range(setting.steps):
        batch = normalize_batch(augment_images(views, augmentation, generator), model.preprocessing)
        value = in_batch_loss(network.embed(batch), labels, network.comparison, loss, "hard")
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    return network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True, help="Runs in Lake's format (siamkit make-runs).")
    parser.add_argument("--settings", default="10:1e-4,30:1e-4", help="STEPS:LEARNING_RATE, comma-separated.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", type=Path, default=None)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    settings = parse_settings(arguments.settings)
    model = siamkit.load(arguments.model)
    augmentation = training_augmentation(model)
    runs = read_one_shot_runs(arguments.runs)
    names = ["plain", *(setting.name for setting in settings)]
    correct = dict.fromkeys(names, 0)
    per_run: dict[str, list[float]] = {name: [] for name in names}
    items = 0
    started = time.perf_counter()
    columns = (
        TextColumn("runs"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("runs", total=len(runs))
        for index, run in enumerate(runs):
            answers = torch.tensor(run.answers)
            training = model.prepare(run.training)
            models = {"plain": model}
            for setting in settings:
                network = fine_tuned_network(model, training, setting, augmentation, arguments.seed * 1000 + index)
                models[setting.name] = SiameseModel(network, model.preprocessing)
            for name, scored in models.items():
                # The evaluator's own scoring (`siamkit one-shot-runs`), so only the weights differ.
                hits = int((run_similarities([scored], run).argmax(dim=1) == answers).sum())
                correct[name] += hits
                per_run[name].append(hits / len(run.test))
            items += len(run.test)
            progress.advance(task)
    accuracy = {name: correct[name] / items for name in names}
    results = {
        "model": str(arguments.model),
        "runs": str(arguments.runs),
        "n_runs": len(runs),
        "n_items": items,
        "settings": [vars(setting) | {"name": setting.name} for setting in settings],
        "augmentation": augmentation.to_dict(),
        "accuracy": accuracy,
        "per_run": per_run,
        "seconds": round(time.perf_counter() - started, 1),
        "threads": arguments.threads,
        "machine": machine(),
    }
    print(json.dumps({key: results[key] for key in ("n_items", "accuracy", "seconds")}, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
