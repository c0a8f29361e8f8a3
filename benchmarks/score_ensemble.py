"""What an ensemble of verification models would score, from their held-out scores on the same pairs.

    python benchmarks/score_ensemble.py benchmarks/results/gpu_sweep/faces-conv4-96-scores.npz \
        benchmarks/results/gpu_sweep/faces-conv4-96-triplet-scores.npz

Each .npz (written by `--scores-out` of faces_kfold.py or signatures_split.py) holds `similarities` and `labels`
of the same pairs in the same order (the protocols are seeded). Every model's similarities are standardised
(mean 0, standard deviation 1 over these pairs, so no model dominates by its scale) and summed; the script prints
each model's EER and the ensemble's. The standardisation uses the held-out pairs' own statistics, which a
shipped ensemble would take from calibration data instead; EER depends only on the ranking, so this changes
little.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from siamkit.evaluation.verification import verification_metrics
from verification_folds import load_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", type=Path, nargs="+", help="Held-out scores (.npz), two or more.")
    arguments = parser.parse_args()
    loaded = [load_scores(path) for path in arguments.scores]
    labels = loaded[0][1]
    for path, (_, model_labels) in zip(arguments.scores, loaded, strict=True):
        if not np.array_equal(model_labels, labels):
            parser.error(f"{path}: its pairs are not those of {arguments.scores[0]}")
    standardised = [(similarities - similarities.mean()) / similarities.std() for similarities, _ in loaded]
    result = {
        "models": {
            str(path): verification_metrics(similarities, labels).eer
            for path, (similarities, _) in zip(arguments.scores, loaded, strict=True)
        },
        "ensemble_eer": verification_metrics(np.sum(standardised, axis=0), labels).eer,
        "n_pairs": len(labels),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
