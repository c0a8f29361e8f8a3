"""What an ensemble of verification models would score, from their held-out scores on the same pairs.

    python benchmarks/score_ensemble.py benchmarks/results/gpu_sweep/faces-conv4-96-scores.npz \
        benchmarks/results/gpu_sweep/faces-conv4-96-triplet-scores.npz

Each .npz (written by `--scores-out` of faces_kfold.py or signatures_split.py) holds `similarities` and `labels`
of the same pairs in the same order (the protocols are seeded). Every model's similarities are standardised
(mean 0, standard deviation 1 over these pairs, so no model dominates by its scale) and summed; the script prints
each model's EER and the ensemble's. The standardisation uses the held-out pairs' own statistics, which a
shipped ensemble would take from calibration data instead; EER depends only on the ranking, so this changes
little.

With `--comparison NAME` (the members' comparison) the scores are instead combined exactly as an ensemble
bundle of the models (`siamkit ensemble`) scores the pairs, and `--scores-out` writes them for
`store_decision.py`, so the ensemble's threshold can be fitted on its members' held-out pairs:

    python benchmarks/score_ensemble.py --comparison euclidean --scores-out ensemble_scores.npz a.npz b.npz c.npz

`--by-size` adds, for each ensemble size from 1 to the number of models, the mean, lowest and highest EER over
every subset of that size: how much each further member is worth, with the luck of which seeds are drawn
averaged out.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from siamkit.ensemble import combined_similarities
from siamkit.errors import ConfigError
from siamkit.evaluation.verification import verification_metrics
from verification_folds import load_scores, save_scores


def eers_by_ensemble_size(
    members: list[np.ndarray], labels: np.ndarray, combine: Callable[[list[np.ndarray]], np.ndarray]
) -> list[dict[str, float]]:
    """Mean, lowest and highest EER over every subset of the members, for each subset size."""
    rows = []
    for size in range(1, len(members) + 1):
        eers = [
            verification_metrics(combine(list(subset)), labels).eer for subset in itertools.combinations(members, size)
        ]
        rows.append({"size": size, "subsets": len(eers), "mean_eer": float(np.mean(eers)), "min_eer": min(eers),
                     "max_eer": max(eers)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", type=Path, nargs="+", help="Held-out scores (.npz), two or more.")
    parser.add_argument("--comparison", help="Combine as an ensemble bundle of models comparing by this does.")
    parser.add_argument("--scores-out", type=Path, help="Write the ensemble's scores (.npz); needs --comparison.")
    parser.add_argument("--by-size", action="store_true", help="EERs of every subset of each size, summarised.")
    arguments = parser.parse_args()
    if arguments.scores_out and not arguments.comparison:
        parser.error("--scores-out needs --comparison: only a bundle's own scores can set its threshold")
    loaded = [load_scores(path) for path in arguments.scores]
    labels = loaded[0][1]
    for path, (_, model_labels) in zip(arguments.scores, loaded, strict=True):
        if not np.array_equal(model_labels, labels):
            parser.error(f"{path}: its pairs are not those of {arguments.scores[0]}")

    def combine(members: list[np.ndarray]) -> np.ndarray:
        if arguments.comparison:
            return combined_similarities(members, arguments.comparison)
        return np.sum([(scores - scores.mean()) / scores.std() for scores in members], axis=0)

    try:
        combined = combine([similarities for similarities, _ in loaded])
    except ConfigError as error:
        parser.error(str(error))
    if arguments.scores_out:
        save_scores(arguments.scores_out, combined, labels)
    ensemble_metrics = verification_metrics(combined, labels)
    result = {
        "models": {
            str(path): verification_metrics(similarities, labels).eer
            for path, (similarities, _) in zip(arguments.scores, loaded, strict=True)
        },
        "ensemble_eer": ensemble_metrics.eer,
        "ensemble_auc": ensemble_metrics.auc,
        "combined_as": f"{arguments.comparison} ensemble bundle" if arguments.comparison else "standardised sum",
        "n_pairs": len(labels),
    }
    if arguments.by_size:
        result["by_size"] = eers_by_ensemble_size([similarities for similarities, _ in loaded], labels, combine)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
