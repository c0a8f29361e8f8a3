"""Person-independent face verification on ORL: k-fold cross-validation over people with the `faces` preset.

Fold i (of 5) tests people s(8i+1) .. s(8i+8) and trains on the other 32; no person is in both. Each fold is
scored with the `classes` protocol (all same-person pairs against an equal, seeded sample of different-person
pairs), as `siamkit evaluate --protocol classes` does.

    OMP_NUM_THREADS=1 python benchmarks/faces_kfold.py --json-out benchmarks/results/faces_kfold.json
    python benchmarks/faces_kfold.py --folds-to-run 0 --set training.epochs=40
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from verification_folds import (
    add_run_arguments,
    extract_classes,
    machine,
    parse_ranges,
    pool_folds,
    preset_recipe,
    summary,
    train_and_evaluate,
    write_results,
)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "orl_faces" / "orl_faces.zip"
PEOPLE = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ORL zip (orl_faces/sNN/K.pgm).")
    parser.add_argument("--preset", default="faces")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--folds-to-run", default=None, help="e.g. 0 or 0-2 (default: all).")
    add_run_arguments(parser, default_output=Path("runs/faces_kfold"))
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    torch.set_num_threads(arguments.threads)

    people = [f"s{person}" for person in range(1, PEOPLE + 1)]
    size = PEOPLE // arguments.folds
    chosen = parse_ranges(arguments.folds_to_run) if arguments.folds_to_run else range(arguments.folds)
    folds = []
    fold_scores: list[tuple[np.ndarray, np.ndarray]] = []
    for fold in chosen:
        test_people = people[fold * size : (fold + 1) * size]
        train_people = [person for person in people if person not in test_people]
        with tempfile.TemporaryDirectory(prefix="siamkit-faces-") as folder:
            train = extract_classes(arguments.data, "orl_faces", train_people, Path(folder) / "train")
            test = extract_classes(arguments.data, "orl_faces", test_people, Path(folder) / "test")
            recipe = preset_recipe(arguments.preset, train, arguments.output / f"fold{fold}", arguments.overrides)
            result, similarities, labels = train_and_evaluate(recipe, test, protocol="classes")
        fold_scores.append((similarities, labels))
        result["fold"] = fold
        result["test_people"] = f"{test_people[0]}-{test_people[-1]}"
        folds.append(result)
        print(json.dumps(result), flush=True)
    decision = pool_folds(folds, fold_scores, arguments.scores_out)
    results = {
        "task": "ORL person-independent face verification, k-fold over people (classes protocol)",
        "folds": folds,
        "eer": summary([fold["eer"] for fold in folds]),
        "auc": summary([fold["auc"] for fold in folds]),
        "training_seconds": summary([fold["training_seconds"] for fold in folds]),
        "images_per_second": summary([fold["images_per_second"] for fold in folds]),
        "pooled_decision": decision,
        "preset": arguments.preset,
        "overrides": arguments.overrides,
        "recipe": recipe.to_dict(),
        "machine": machine(),
    }
    print(json.dumps({key: results[key] for key in ("eer", "auc", "training_seconds")}, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
