"""Writer-independent signature verification on CEDAR: train the `signatures` preset on some writers, test on
the others with the SigNet protocol (per writer, 276 genuine-genuine and 576 genuine-forgery pairs).

The development split is fixed: writers 1-35 train, 36-45 test (the provided writers 1-45; 46-55 are kept
back by the project and never used here). Tune only on this split.

    OMP_NUM_THREADS=1 python benchmarks/signatures_split.py --json-out benchmarks/results/signatures_split.json
    python benchmarks/signatures_split.py --set training.epochs=30 --set training.loss_options='{"margin": 0.8}'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import torch

from verification_folds import (
    add_run_arguments,
    extract_classes,
    machine,
    pooled_decision,
    preset_recipe,
    save_scores,
    train_and_evaluate,
    write_results,
    writer_split,
)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cedar" / "cedar_dev.zip"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CEDAR zip (cedar/<W>/...).")
    parser.add_argument("--preset", default="signatures")
    parser.add_argument("--train-writers", default="1-35")
    parser.add_argument("--test-writers", default="36-45")
    add_run_arguments(parser, default_output=Path("runs/signatures_split"))
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    torch.set_num_threads(arguments.threads)

    train_writers, test_writers = writer_split(parser, arguments.train_writers, arguments.test_writers)
    with tempfile.TemporaryDirectory(prefix="siamkit-signatures-") as folder:
        train = extract_classes(arguments.data, "cedar", train_writers, Path(folder) / "train")
        test = extract_classes(arguments.data, "cedar", test_writers, Path(folder) / "test")
        recipe = preset_recipe(arguments.preset, train, arguments.output, arguments.overrides)
        result, similarities, labels = train_and_evaluate(recipe, test, protocol="signatures")
    result["held_out_decision"] = pooled_decision(similarities, labels)
    if arguments.scores_out is not None:
        save_scores(arguments.scores_out, similarities, labels)
    results = {
        "task": "CEDAR writer-independent signature verification (SigNet protocol)",
        "train_writers": arguments.train_writers,
        "test_writers": arguments.test_writers,
        "preset": arguments.preset,
        "overrides": arguments.overrides,
        "recipe": recipe.to_dict(),
        "result": result,
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))
    if arguments.json_out is not None:
        write_results(arguments.json_out, results)


if __name__ == "__main__":
    main()
