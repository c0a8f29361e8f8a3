"""One training run, two sets of weights: the moving average it saved and its last step's, on the same pairs.

A run trained with `training.weight_average_decay` saves the averaged network in its bundle and keeps the last
step's weights in its final checkpoint (`network.*`). Scoring both on the same held-out pairs compares them with
the seed, the batches and the data all held fixed, which single runs of two recipes cannot do (on the CEDAR
split two seeds of one recipe differ by up to 6 points of EER).

    python benchmarks/signatures_split.py --preset signatures-cpu --output /tmp/run \\
        --set training.weight_average_decay=0.998 ...
    python benchmarks/last_vs_averaged_weights.py --run /tmp/run --test /tmp/cedar-36-45 --protocol signatures \\
        --json-out benchmarks/results/last_vs_averaged.json
    # one-shot recognition instead: accuracy on runs in Lake's format (siamkit make-runs)
    python benchmarks/last_vs_averaged_weights.py --run /tmp/omniglot-run --runs /tmp/omniglot-val100
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from siamkit.errors import DataError, SiamkitError
from siamkit.evaluation.dataset_evaluation import evaluate_folder
from siamkit.evaluation.one_shot_runs import evaluate_one_shot_runs
from siamkit.model import SiameseModel
from verification_folds import machine, write_results


def last_step_model(run: Path) -> SiameseModel:
    """The run's bundle with its weights replaced by the final checkpoint's last-step weights."""
    model = SiameseModel.load(run / "model")
    tensors = load_file(str(run / "checkpoint" / "state.safetensors"))
    if not any(name.startswith("average.") for name in tensors):
        raise DataError("the run kept no moving average of its weights (no training.weight_average_decay)")
    last = {name[len("network.") :]: value for name, value in tensors.items() if name.startswith("network.")}
    model.network.load_state_dict(last)
    return model


def score(model: SiameseModel, arguments: argparse.Namespace) -> dict[str, Any]:
    """Verification EER/AUC on `--test` pairs, or one-shot accuracy on `--runs`."""
    if arguments.runs is not None:
        one_shot = evaluate_one_shot_runs(model, arguments.runs)
        return {"accuracy": one_shot.accuracy, "n_items": one_shot.n_items}
    model.threshold = None  # each set of weights at its own EER threshold
    result = evaluate_folder(model, arguments.test, protocol=arguments.protocol, ways=0)
    return {key: result[key] for key in ("eer", "auc", "n_same", "n_different")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", required=True, help="A training run's output folder.")
    held_out = parser.add_mutually_exclusive_group(required=True)
    held_out.add_argument("--test", type=Path, help="Held-out folder, as for siamkit evaluate (scores EER).")
    held_out.add_argument("--runs", type=Path, help="One-shot runs, as for siamkit one-shot-runs (accuracy).")
    parser.add_argument("--protocol", choices=["signatures", "classes"], default="signatures", help="With --test.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)

    runs = []
    for run in arguments.run:
        try:
            averaged = SiameseModel.load(run / "model")
            last_step = last_step_model(run)
            row = {
                "run": str(run),
                "weight_average_decay": averaged.metadata["training"]["config"]["weight_average_decay"],
                "last_step": score(last_step, arguments),
                "averaged": score(averaged, arguments),
            }
        except (SiamkitError, OSError) as error:
            parser.error(f"{run}: {error}")
        runs.append(row)
        print(json.dumps(row), file=sys.stderr)
    metric = "accuracy" if arguments.runs is not None else "eer"
    results = {
        "held_out": str(arguments.runs or arguments.test),
        "protocol": "one-shot runs" if arguments.runs is not None else arguments.protocol,
        "runs": runs,
        f"mean_{metric}_last_step": sum(row["last_step"][metric] for row in runs) / len(runs),
        f"mean_{metric}_averaged": sum(row["averaged"][metric] for row in runs) / len(runs),
        "machine": machine(),
    }
    print(json.dumps(results, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
