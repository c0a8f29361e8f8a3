"""Person-independent face verification on ORL with dlib's pretrained face network, on faces_kfold's folds.

The same 5 folds and pairs as `faces_kfold.py` (fold i tests people s(8i+1) .. s(8i+8) under the `classes`
protocol: all 360 same-person pairs of the fold against a seeded sample of 360 different-person pairs),
scored with the bundle `siamkit import-face-model` writes, which never saw ORL. With
`--fine-tune`, each fold first trains the `faces-pretrained` preset (starting from that bundle) on the fold's
other 32 people, so the two rows show what ORL's own people add.

    python benchmarks/faces_pretrained.py --json-out benchmarks/results/faces_pretrained.json \
        --scores-out benchmarks/results/faces_pretrained_scores.npz
    python benchmarks/faces_pretrained.py --no-alignment --json-out benchmarks/results/faces_pretrained_unaligned.json
    python benchmarks/faces_pretrained.py --fine-tune --json-out benchmarks/results/faces_pretrained_fine_tuned.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from siamkit.applications.faces import dlib_face_model
from siamkit.evaluation.verification import verification_metrics
from siamkit.model import SiameseModel
from verification_folds import (
    extract_classes,
    held_out_similarities,
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


def zero_shot(model: SiameseModel, test: Path) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """EER and AUC of the untouched pretrained model on one fold's held-out people (faces aligned and embedded
    once; the metrics come from the same pair similarities that are pooled afterwards)."""
    started = time.perf_counter()
    similarities, labels = held_out_similarities(model, test, "classes")
    metrics = verification_metrics(similarities, labels).to_dict()
    scored = {key: metrics[key] for key in ("eer", "auc", "n_same", "n_different")}
    scored["seconds"] = round(time.perf_counter() - started, 1)
    return scored, similarities, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ORL zip (orl_faces/sNN/K.pgm).")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--folds-to-run", default=None, help="e.g. 0 or 0-2 or 1,3 (default: all).")
    parser.add_argument("--fine-tune", action="store_true", help="Train the faces-pretrained preset per fold.")
    parser.add_argument(
        "--no-alignment", action="store_true", help="Ablation: squeeze the whole photo to 150x150 instead of aligning."
    )
    parser.add_argument("--preset", default="faces-pretrained")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=JSON")
    parser.add_argument("--output", type=Path, default=Path("runs/faces_pretrained"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--scores-out", type=Path, default=None)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    torch.set_num_threads(arguments.threads)

    people = [f"s{person}" for person in range(1, PEOPLE + 1)]
    size = PEOPLE // arguments.folds
    chosen = parse_ranges(arguments.folds_to_run) if arguments.folds_to_run else range(arguments.folds)
    folds = []
    fold_scores: list[tuple[np.ndarray, np.ndarray]] = []
    with tempfile.TemporaryDirectory(prefix="siamkit-faces-pretrained-") as folder:
        pretrained = Path(folder) / "pretrained"
        dlib_face_model().save(pretrained, half_precision=True)
        model = SiameseModel.load(pretrained)
        if arguments.no_alignment:
            model.preprocessing = replace(model.preprocessing, align_faces=False)
        overrides = [*arguments.overrides, f"training.initial_weights={json.dumps(str(pretrained))}"]
        for fold in chosen:
            test_people = people[fold * size : (fold + 1) * size]
            train_people = [person for person in people if person not in test_people]
            test = extract_classes(arguments.data, "orl_faces", test_people, Path(folder) / f"test{fold}")
            if arguments.fine_tune:
                train = extract_classes(arguments.data, "orl_faces", train_people, Path(folder) / f"train{fold}")
                recipe = preset_recipe(arguments.preset, train, arguments.output / f"fold{fold}", overrides)
                result, similarities, labels = train_and_evaluate(recipe, test, protocol="classes")
            else:
                result, similarities, labels = zero_shot(model, test)
            fold_scores.append((similarities, labels))
            result["fold"] = fold
            result["test_people"] = f"{test_people[0]}-{test_people[-1]}"
            folds.append(result)
            print(json.dumps(result), flush=True)
    decision = pool_folds(folds, fold_scores, arguments.scores_out)
    results = {
        "task": "ORL person-independent face verification, k-fold over people (classes protocol), "
        + ("dlib's pretrained network fine-tuned per fold" if arguments.fine_tune else "dlib's pretrained network")
        + (", faces not aligned" if arguments.no_alignment else ""),
        "folds": folds,
        "eer": summary([fold["eer"] for fold in folds]),
        "auc": summary([fold["auc"] for fold in folds]),
        "pooled_decision": decision,
        "fine_tune": arguments.fine_tune,
        "aligned": not arguments.no_alignment,
        "overrides": arguments.overrides,
        "machine": machine(),
    }
    print(json.dumps({key: results[key] for key in ("eer", "auc", "pooled_decision")}, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
