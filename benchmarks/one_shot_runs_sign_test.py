"""Compare two models' scores on the same one-shot runs, run by run, with a sign test.

    siamkit one-shot-runs --model A --runs DIR --json > a.json
    siamkit one-shot-runs --model B --runs DIR --json > b.json
    python benchmarks/one_shot_runs_sign_test.py a.json b.json [--json-out OUT]

Two accuracies over the same runs differ by chance less often than two over different runs, because each run's
difficulty is shared. The sign test counts the runs where the first model is better and where it is worse
(ties left out) and gives the two-sided probability of a split at least that uneven if neither were better.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from siamkit.atomic import write_text_atomic


def read_per_run(path: Path) -> tuple[float, dict[str, float]]:
    """The overall accuracy and the per-run accuracies of a `siamkit one-shot-runs --json` output.

    Raises:
        OSError, ValueError, KeyError, TypeError: The file is missing, not JSON, or not in that format.
    """
    result = json.loads(path.read_text())
    return float(result["accuracy"]), {name: float(value) for name, value in result["per_run"].items()}


def sign_test(first: dict[str, float], second: dict[str, float]) -> dict[str, Any]:
    """Runs where `first` scores higher and lower than `second`, and the two-sided sign-test p-value."""
    from scipy.stats import binomtest

    if set(first) != set(second):
        raise ValueError("the two results are on different runs: " + ", ".join(sorted(set(first) ^ set(second))))
    better = sum(first[name] > second[name] for name in first)
    worse = sum(first[name] < second[name] for name in first)
    p_value = binomtest(better, better + worse).pvalue if better + worse else 1.0
    return {"better": better, "worse": worse, "equal": len(first) - better - worse, "p_value": float(p_value)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="one-shot-runs JSON of the model under test")
    parser.add_argument("second", type=Path, help="one-shot-runs JSON of the model it is compared with")
    parser.add_argument("--json-out", type=Path, default=None)
    arguments = parser.parse_args()
    read = []
    for path in (arguments.first, arguments.second):
        try:
            read.append(read_per_run(path))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            # json.JSONDecodeError is a ValueError; a JSON without `accuracy`/`per_run` raises KeyError or TypeError
            parser.exit(2, f"error: {path}: not a `siamkit one-shot-runs --json` result ({error!r})\n")
    (first_accuracy, first), (second_accuracy, second) = read
    try:
        result = sign_test(first, second)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    result = {
        "first": str(arguments.first), "second": str(arguments.second),
        "first_accuracy": first_accuracy, "second_accuracy": second_accuracy, **result,
    }  # fmt: skip
    text = json.dumps(result, indent=2)
    if arguments.json_out is not None:
        write_text_atomic(arguments.json_out, text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
