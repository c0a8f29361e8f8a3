"""Claims against K enrolled references: how each claim scoring tells them apart, and what the pair threshold does.

A bundle's threshold is fitted on single pairs; `siamkit gallery verify-claim` compares a query with every
reference of the claimed identity and combines the scores (`siamkit.gallery.claims`: mean, best, centroid).
For each model this script embeds a held-out folder once, sets the model's threshold to the EER threshold of
the folder's pairs (what `siamkit calibrate --eer` would store), then simulates claims with 1, 3, 5, 10
references per identity (`siamkit.evaluation.claims`, 10 reference draws per identity) and reports, per count
and scoring, the claims' EER and the false accept / false reject rates at that pair threshold. Means over the
models close the file.

With `--calibrate-on OTHER` (other held-out identities), each count and scoring also gets its own claim
threshold, the EER threshold of OTHER's simulated claims (what `siamkit gallery calibrate-claims --eer`
stores), and the rates it gives on `--data`'s claims: whether a claim-calibrated threshold carries to new
identities.

    mkdir -p /tmp/x /tmp/cedar-36-45 && unzip -q ../shared/data/cedar/cedar_dev.zip 'cedar/3[6-9]/*' \\
        'cedar/4[0-5]/*' -d /tmp/x && cp -r /tmp/x/cedar/* /tmp/cedar-36-45/
    OMP_NUM_THREADS=1 python benchmarks/claim_verification.py --model /tmp/split-seed0/model \\
        --data /tmp/cedar-36-45 --protocol signatures --json-out benchmarks/results/x.json
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
from siamkit.evaluation.claims import calibrate_claims, claim_trials, evaluate_claims
from siamkit.evaluation.dataset_evaluation import embed_folder, protocol_pairs
from siamkit.evaluation.embedding_evaluation import pair_similarities
from siamkit.evaluation.verification import verification_metrics
from siamkit.gallery.claims import CLAIM_SCORINGS
from siamkit.model import SiameseModel
from verification_folds import machine, write_results


def claim_calibrated_rates(
    model: SiameseModel,
    embedded: tuple[Any, torch.Tensor],
    calibration: Path,
    protocol: str,
    counts: list[int],
    draws: int,
) -> list[dict[str, Any]]:
    """Per count and scoring: the EER threshold of `calibration`'s claims, and the rates it gives on `embedded`."""
    dataset, embeddings = embedded
    fit_set, fit_embeddings = embed_folder(model, calibration)
    rows = []
    for count in counts:
        for scoring in CLAIM_SCORINGS:
            fitted = calibrate_claims(
                model, fit_embeddings, fit_set.labels.numpy(), fit_set.paths, protocol, count, scoring, None, draws, 1
            )
            scores, labels = claim_trials(
                model, embeddings, dataset.labels.numpy(), dataset.paths, protocol, count, scoring, draws, seed=0
            )
            threshold = float(model.similarity_from_score(np.array([fitted["threshold"]]))[0])
            metrics = verification_metrics(model.similarity_from_score(scores), labels, threshold)
            rows.append(
                {"references": count, "scoring": scoring, "threshold": fitted["threshold"],
                 "calibration_far": fitted["achieved_far"], "far": metrics.far, "frr": metrics.frr}
            )  # fmt: skip
    return rows


def score_model(
    path: Path, data: Path, protocol: str, counts: list[int], draws: int, calibration: Path | None
) -> dict[str, Any]:
    model = siamkit.load(path)
    dataset, embeddings = embed_folder(model, data)
    first, second, labels = protocol_pairs(dataset, protocol, seed=0)
    similarities, _ = pair_similarities(embeddings, first, second, model.network.comparison)
    pairs = verification_metrics(similarities, labels)
    model.threshold = float(model.similarity_from_score(np.array([pairs.eer_threshold]))[0])
    claims = evaluate_claims(
        model, embeddings, dataset.labels.numpy(), dataset.paths, protocol, counts, draws=draws, seed=0
    )
    row = {"model": str(path), "pair_eer": pairs.eer, "pair_threshold": model.threshold, "claims": claims}
    if calibration is not None:
        row["claim_calibrated"] = claim_calibrated_rates(
            model, (dataset, embeddings), calibration, protocol, counts, draws
        )
    return row


def means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each (count, scoring)'s EER, FAR and FRR averaged over the models."""
    averaged = []
    for index, first in enumerate(rows[0]["claims"]):
        entries = [row["claims"][index] for row in rows]
        averaged.append(
            {
                "references": first["references"],
                "scoring": first["scoring"],
                **{key: float(np.mean([entry[key] for entry in entries])) for key in ("eer", "far", "frr")},
            }
        )
    return averaged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="A bundle; repeat for several.")
    parser.add_argument("--data", type=Path, required=True, help="The held-out folder (identities never trained on).")
    parser.add_argument("--protocol", default="signatures", choices=["signatures", "classes"])
    parser.add_argument("--references", default="1,3,5,10", help="Reference counts, comma-separated.")
    parser.add_argument("--calibrate-on", type=Path, help="Other held-out identities to fit claim thresholds on.")
    parser.add_argument("--draws", type=int, default=10, help="Reference sets drawn per identity and count.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    counts = [int(count) for count in arguments.references.split(",")]
    rows = []
    for path in arguments.model:
        try:
            row = score_model(path, arguments.data, arguments.protocol, counts, arguments.draws, arguments.calibrate_on)
        except SiamkitError as error:
            parser.error(str(error))
        rows.append(row)
        compact = {f"{c['references']}-{c['scoring']}": [round(100 * c[k], 1) for k in ("eer", "far", "frr")]
                   for c in row["claims"]}  # fmt: skip
        print(json.dumps({"model": str(path), "pair_eer": round(100 * row["pair_eer"], 2), **compact}), flush=True)
    results = {
        "data": str(arguments.data),
        "protocol": arguments.protocol,
        "draws": arguments.draws,
        "models": rows,
        "mean_over_models": means(rows),
        "machine": machine(),
    }
    for entry in results["mean_over_models"]:
        print(f"{entry['references']:>3} {entry['scoring']:<9} EER {100 * entry['eer']:5.2f}%  at the pair "
              f"threshold FAR {100 * entry['far']:5.2f}% FRR {100 * entry['frr']:5.2f}%")  # fmt: skip
    for entry in rows[-1].get("claim_calibrated", []):
        print(f"{entry['references']:>3} {entry['scoring']:<9} claim threshold {entry['threshold']:.4g} (FAR "
              f"{100 * entry['calibration_far']:5.2f}% where fitted): FAR {100 * entry['far']:5.2f}% "
              f"FRR {100 * entry['frr']:5.2f}% on --data")  # fmt: skip
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
