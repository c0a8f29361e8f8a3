"""Signature scores normalised against a cohort of other writers (speaker verification's S-norm): does it help?

Each image's similarities to a cohort (the training writers' signatures, never the test writers') give its own
mean and spread; a pair's similarity is then standardised by both images' statistics and averaged
(`symmetric`, S-norm; `--top` keeps only each image's closest cohort images, adaptive S-norm), or only has the
two means taken off (`centred`). Scored on the held-out writers' SigNet pairs against the plain similarity of
the same embeddings, for each split model, with the cohort's genuine signatures only and with all its images.

    OMP_NUM_THREADS=1 python benchmarks/cohort_score_normalisation.py --model /tmp/split-seed0/model \\
        --test /tmp/cedar-36-45 --cohort /tmp/cedar-1-35 --json-out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

import siamkit
from siamkit.errors import SiamkitError
from siamkit.evaluation.dataset_evaluation import embed_folder, protocol_pairs
from siamkit.evaluation.signature_protocol import is_genuine_signature
from siamkit.evaluation.verification import verification_metrics
from verification_folds import machine, write_results


def cohort_statistics(embeddings: np.ndarray, cohort: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's mean and standard deviation of cosine similarity to the cohort (its `top` closest, if > 0)."""
    similarities = embeddings @ cohort.T
    if top > 0:
        similarities = np.sort(similarities, axis=1)[:, -top:]
    return similarities.mean(axis=1), similarities.std(axis=1)


def normalised_variants(
    embeddings: np.ndarray, cohort: np.ndarray, first: np.ndarray, second: np.ndarray, tops: list[int]
) -> dict[str, np.ndarray]:
    """Pair similarities, plain and normalised, keyed by variant name."""
    plain = (embeddings[first] * embeddings[second]).sum(axis=1)
    variants = {"plain": plain}
    for top in tops:
        mean, spread = cohort_statistics(embeddings, cohort, top)
        variants[f"symmetric_top{top}"] = 0.5 * (
            (plain - mean[first]) / spread[first] + (plain - mean[second]) / spread[second]
        )
        variants[f"centred_top{top}"] = plain - 0.5 * (mean[first] + mean[second])
    return variants


def unit(rows: torch.Tensor) -> np.ndarray:
    return torch.nn.functional.normalize(rows.float(), dim=1).numpy().astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="A split model's bundle.")
    parser.add_argument("--test", type=Path, required=True, help="The held-out writers' folder (cedar layout).")
    parser.add_argument("--cohort", type=Path, required=True, help="The training writers' folder (cedar layout).")
    parser.add_argument("--tops", default="0,50,200", help="Closest cohort images kept (0: all), comma-separated.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    tops = [int(top) for top in arguments.tops.split(",")]
    rows: list[dict[str, Any]] = []
    for path in arguments.model:
        try:
            model = siamkit.load(path)
            test, test_embeddings = embed_folder(model, arguments.test)
            cohort, cohort_embeddings = embed_folder(model, arguments.cohort)
        except SiamkitError as error:
            parser.error(str(error))
        first, second, labels = protocol_pairs(test, "signatures", seed=0)
        genuine = np.array([is_genuine_signature(str(name)) for name in cohort.paths])
        row: dict[str, Any] = {"model": str(path)}
        for name, members in (("genuine_cohort", genuine), ("whole_cohort", np.ones_like(genuine))):
            variants = normalised_variants(unit(test_embeddings), unit(cohort_embeddings)[members], first, second, tops)
            row[name] = {key: float(verification_metrics(value, labels).eer) for key, value in variants.items()}
        rows.append(row)
        print(json.dumps(row), flush=True)
    means = {
        cohort_name: {key: float(np.mean([row[cohort_name][key] for row in rows])) for key in rows[0][cohort_name]}
        for cohort_name in ("genuine_cohort", "whole_cohort")
    }
    print(json.dumps({"mean_eer": means}, indent=2))
    if arguments.json_out is not None:
        write_results(
            arguments.json_out,
            {"test": str(arguments.test), "cohort": str(arguments.cohort), "models": rows, "mean_eer": means,
             "machine": machine()},
        )  # fmt: skip


if __name__ == "__main__":
    main()
