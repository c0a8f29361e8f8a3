"""Sets a shipped model's decision (threshold and Platt map) from held-out scores of its recipe.

A model trained on all the provided data has no unseen data left to calibrate on, and its own training pairs
are tighter than new people's or writers', so a threshold fitted on them rejects too many genuine pairs (see
`frr_at_training_threshold` in the benchmark results). Instead the threshold is the EER threshold of the pooled
held-out pairs of benchmarks/faces_kfold.py (people never seen by each fold's model) or
benchmarks/signatures_split.py (writers 36-45). Every model of one recipe has L2-normalised embeddings trained
against the same margin, so its distances share a scale (the folds' EER thresholds agree closely, see the
results), which is what lets the threshold carry over. The map is written exactly as `siamkit calibrate` writes
it (`update_bundle_decision`).

    python benchmarks/store_decision.py --model models/faces --scores benchmarks/results/faces_kfold_scores.npz

`--scores` repeats: the held-out pairs of several split models of the recipe (seeds, say) are pooled, so the
threshold and the map describe the recipe rather than one model's luck on one split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from verification_folds import load_scores, pooled_decision, store_decision


def pooled_scores(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """The similarities and labels of every file, one after another."""
    loaded = [load_scores(path) for path in paths]
    return np.concatenate([similarities for similarities, _ in loaded]), np.concatenate(
        [labels for _, labels in loaded]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="Bundle folder, updated in place.")
    parser.add_argument(
        "--scores", type=Path, action="append", required=True,
        help=".npz of held-out similarities and labels; repeat to pool several split models of the recipe.",
    )  # fmt: skip
    arguments = parser.parse_args()
    similarities, labels = pooled_scores(arguments.scores)
    decision = pooled_decision(similarities, labels)
    threshold = store_decision(arguments.model, decision, [str(path) for path in arguments.scores])
    print(json.dumps({"model": str(arguments.model), "threshold": threshold, **decision}, indent=2))


if __name__ == "__main__":
    main()
