"""Signature verification with test-time views: does embedding each image through fixed distortions help?

Scores split models (trained on writers 1-35 by `benchmarks/signatures_split.py --output DIR`, bundle in
`DIR/model`) on the held-out writers' SigNet pairs, the same pairs for every variant: each model as it is
(`plain`), and wrapped by `siamkit.test_time_views.add_test_time_views` with each count of `--views` (the image
and `views - 1` fixed distortions drawn from the model's training augmentation, embeddings averaged; what
`siamkit test-time-views` writes). Then all the models together, combined as `siamkit ensemble` combines them,
plain and with views. `--scores-out` saves the ensemble's held-out scores at the largest view count, for
`store_decision.py`.

    mkdir -p /tmp/x /tmp/cedar-36-45 && unzip -q ../shared/data/cedar/cedar_dev.zip 'cedar/3[6-9]/*' \\
        'cedar/4[0-5]/*' -d /tmp/x && cp -r /tmp/x/cedar/* /tmp/cedar-36-45/
    OMP_NUM_THREADS=1 python benchmarks/signatures_test_time_augmentation.py --model /tmp/split-seed0/model \\
        --model /tmp/split-seed1/model --test /tmp/cedar-36-45 --views 8 --json-out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

import siamkit
from siamkit.ensemble import combined_similarities
from siamkit.errors import SiamkitError
from siamkit.evaluation.verification import verification_metrics
from siamkit.test_time_views import add_test_time_views
from verification_folds import held_out_similarities, machine, save_scores, write_results


def rates(similarities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    metrics = verification_metrics(similarities, labels)
    return {"eer": float(metrics.eer), "auc": float(metrics.auc)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="A split model's bundle.")
    parser.add_argument("--test", type=Path, required=True, help="The held-out writers' folder (cedar layout).")
    parser.add_argument("--views", default="8", help="View counts to try, comma-separated (each at least 2).")
    parser.add_argument("--seed", type=int, default=0, help="Draws the views.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--scores-out", type=Path, help="The ensemble's held-out scores at the largest count.")
    parser.add_argument("--json-out", type=Path)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    view_counts = sorted({int(count) for count in arguments.views.split(",")})
    variants = ["plain"] + [f"views_{count}" for count in view_counts]

    rows: list[dict[str, Any]] = []
    scores: dict[str, list[np.ndarray]] = {variant: [] for variant in variants}
    comparison = ""
    labels = np.zeros(0)
    for path in arguments.model:
        row: dict[str, Any] = {"model": str(path)}
        try:
            model = siamkit.load(path)
            comparison = model.network.config.comparison.name if model.network.config else ""
            with tempfile.TemporaryDirectory(prefix="siamkit-views-") as folder:
                for variant in variants:
                    if variant != "plain":
                        wrapped = Path(folder) / variant
                        add_test_time_views(path, wrapped, int(variant.split("_")[1]), seed=arguments.seed)
                        model = siamkit.load(wrapped)
                    similarities, labels = held_out_similarities(model, arguments.test, "signatures")
                    scores[variant].append(similarities)
                    row[variant] = rates(similarities, labels)
        except SiamkitError as error:
            parser.error(str(error))
        rows.append(row)
        print(json.dumps(row), flush=True)
    mean_eer = {variant: float(np.mean([row[variant]["eer"] for row in rows])) for variant in variants}
    results: dict[str, Any] = {
        "test": str(arguments.test),
        "seed": arguments.seed,
        "n_same": int((labels == 1).sum()),
        "n_different": int((labels == 0).sum()),
        "models": rows,
        "mean_eer": mean_eer,
        "mean_eer_ratio_to_plain": {variant: mean_eer[variant] / mean_eer["plain"] for variant in variants},
        "machine": machine(),
    }
    if len(rows) > 1:
        combined = {variant: combined_similarities(scores[variant], comparison) for variant in variants}
        results["ensemble"] = {variant: rates(combined[variant], labels) for variant in variants}
        if arguments.scores_out is not None:
            save_scores(arguments.scores_out, combined[variants[-1]], labels)
    print(json.dumps({key: results.get(key) for key in ("mean_eer", "mean_eer_ratio_to_plain", "ensemble")}, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
