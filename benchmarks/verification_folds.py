"""Shared pieces of benchmarks/signatures_split.py and benchmarks/faces_kfold.py.

Each fold's training and test classes are unpacked from the zip into a temporary folder (never into the
project), the preset recipe is trained on the training folder exactly as `siamkit train --preset` would, and
the test folder is scored with `siamkit evaluate`'s `evaluate_folder`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamkit.atomic import write_bytes_atomic, write_text_atomic
from siamkit.bundle import threshold_provenance, update_bundle_decision
from siamkit.evaluation.calibration import calibrate_threshold, fit_score_calibration
from siamkit.evaluation.dataset_evaluation import embed_folder, evaluate_folder, protocol_pairs
from siamkit.evaluation.embedding_evaluation import pair_similarities
from siamkit.evaluation.verification import rates_at_threshold
from siamkit.model import SiameseModel
from siamkit.training.presets import preset_path
from siamkit.training.recipe import TrainingRecipe, run_recipe


def add_run_arguments(parser: argparse.ArgumentParser, default_output: Path) -> None:
    """The options every train-and-evaluate benchmark here shares: overrides, run folder, threads, outputs."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=JSON override.")
    parser.add_argument("--output", type=Path, default=default_output)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--scores-out", type=Path, default=None, help="Held-out similarities/labels (.npz).")


def writer_split(parser: argparse.ArgumentParser, train: str, test: str) -> tuple[list[str], list[str]]:
    """The writer names of a train/test split given as ranges (`1-35`, `36-45`); a writer in both is a usage
    error (exit 2)."""
    train_writers = [str(writer) for writer in parse_ranges(train)]
    test_writers = [str(writer) for writer in parse_ranges(test)]
    if set(train_writers) & set(test_writers):
        parser.error("a writer is in both the training and the test split")
    return train_writers, test_writers


def parse_ranges(text: str) -> list[int]:
    """`1-35` or `1-5,9,12-14` -> the listed integers."""
    numbers: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        numbers.extend(range(int(low), int(high or low) + 1))
    return numbers


def extract_classes(archive: Path, top: str, classes: Sequence[str], destination: Path) -> Path:
    """Unpacks `top/<class>/...` of `archive` for each class into `destination/top/<class>/`."""
    wanted = tuple(f"{top}/{name}/" for name in classes)
    with zipfile.ZipFile(archive) as source:
        for member in source.infolist():
            if member.filename.startswith(wanted) and not member.is_dir():
                target = destination / member.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read(member))
    return destination / top


def preset_recipe(name: str, train: Path, output: Path, overrides: Sequence[str]) -> TrainingRecipe:
    """The preset's recipe with its data and output replaced and `section.key=JSON` overrides applied."""
    data = json.loads(preset_path(name).read_text())
    data["data"]["train"] = str(train)
    data["training"]["output_dir"] = str(output)
    data["training"]["show_progress"] = False
    return TrainingRecipe.from_dict(apply_overrides(data, overrides))


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Sets each `section.key=JSON` (e.g. `training.device="cuda"`, `network.encoder.options={"width": 128}`)
    in a recipe's dictionary, in place; returns it."""
    for override in overrides:
        key, _, value = override.partition("=")
        *parents, leaf = key.split(".")
        node = data
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = json.loads(value)
    return data


def held_out_similarities(model: SiameseModel, test: Path, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """The similarity (larger = more alike) and label of every pair `evaluate_folder` scores on `test`."""
    dataset, embeddings = embed_folder(model, test)
    first, second, labels = protocol_pairs(dataset, protocol, seed=0)
    similarities, _ = pair_similarities(embeddings, first, second, model.network.comparison)
    return similarities, labels


def train_and_evaluate(
    recipe: TrainingRecipe, test: Path, protocol: str
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Trains the recipe, then scores the held-out folder and the training folder under `protocol`.

    Also reports the held-out error rates at the training data's EER threshold: the threshold a model trained
    on all the data could be calibrated to on its own training data, so this shows how such a threshold
    carries to new classes. Returns the results and the held-out pairs' similarities and labels.
    """
    result = run_recipe(recipe)
    model = result.model
    model.threshold = None
    held_out = evaluate_folder(model, test, protocol=protocol, ways=0)
    training = evaluate_folder(model, recipe.data.train, protocol=protocol, ways=0)
    model.threshold = training["threshold"]
    at_training_threshold = evaluate_folder(model, test, protocol=protocol, ways=0)
    similarities, labels = held_out_similarities(model, test, protocol)
    return (
        {
            "eer": held_out["eer"],
            "auc": held_out["auc"],
            "eer_threshold": held_out["threshold"],
            "n_same": held_out["n_same"],
            "n_different": held_out["n_different"],
            "training_eer": training["eer"],
            "training_eer_threshold": training["threshold"],
            "far_at_training_threshold": at_training_threshold["far"],
            "frr_at_training_threshold": at_training_threshold["frr"],
            "steps": result.steps,
            "training_seconds": round(result.seconds, 1),
            "images_per_second": round(result.images_per_second, 1),
        },
        similarities,
        labels,
    )


def pooled_decision(similarities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """The EER threshold (as a distance, for distance comparisons) and Platt map fitted on pooled held-out pairs,
    with the FAR/FRR they give on those pairs."""
    threshold = calibrate_threshold(similarities, labels, use_eer=True)
    calibration = fit_score_calibration(similarities, labels, method="platt")
    far, frr, _ = rates_at_threshold(similarities, labels, threshold.threshold_similarity)
    return {
        "threshold_similarity": threshold.threshold_similarity,
        "far": far,
        "frr": frr,
        "calibration": calibration.to_dict(),
        "n_same": int((labels == 1).sum()),
        "n_different": int((labels == 0).sum()),
    }


def pool_folds(
    folds: list[dict[str, Any]], fold_scores: list[tuple[np.ndarray, np.ndarray]], scores_out: Path | None
) -> dict[str, Any]:
    """The decision fitted on all folds' held-out pairs together; adds each fold's FAR/FRR at that threshold to
    its result, and saves the pooled scores to `scores_out` when given."""
    all_similarities = np.concatenate([similarities for similarities, _ in fold_scores])
    all_labels = np.concatenate([labels for _, labels in fold_scores])
    decision = pooled_decision(all_similarities, all_labels)
    for result, (similarities, labels) in zip(folds, fold_scores, strict=True):
        far, frr, _ = rates_at_threshold(similarities, labels, decision["threshold_similarity"])
        result["far_at_pooled_threshold"], result["frr_at_pooled_threshold"] = far, frr
    if scores_out is not None:
        save_scores(scores_out, all_similarities, all_labels)
    return decision


def save_scores(path: Path, similarities: np.ndarray, labels: np.ndarray) -> None:
    """Held-out similarities and labels as .npz, to set a shipped model's decision from."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, similarities=similarities, labels=labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, buffer.getvalue())


def load_scores(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The similarities and labels `save_scores` wrote; a missing or malformed file stops with one line naming it."""
    try:
        with np.load(path) as scores:  # allow_pickle stays False: nothing but arrays is read
            return scores["similarities"], scores["labels"]
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"{path}: not a held-out scores file (.npz with similarities and labels): {error}") from None


def store_decision(bundle: Path, decision: dict[str, Any], sources: list[str]) -> float:
    """Writes a pooled held-out decision into a bundle (as `siamkit calibrate` does), with a record of the
    held-out score files it was fitted on; returns the threshold in the model's score units."""
    model = SiameseModel.load(bundle)
    threshold = float(model.similarity_from_score(np.array([decision["threshold_similarity"]]))[0])
    provenance = threshold_provenance(
        "benchmarks/store_decision.py, from held-out pairs pooled over split models of the recipe",
        method="eer", far=decision["far"], frr=decision["frr"], data=sources, n_same=decision["n_same"],
        n_different=decision["n_different"], probability_map="platt",
    )  # fmt: skip
    update_bundle_decision(bundle, threshold, decision["calibration"], provenance)
    return threshold


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def summary(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation."""
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if array.size > 1 else 0.0}


def write_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(results, indent=2) + "\n")
