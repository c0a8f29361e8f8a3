"""How long the `siamkit` command line takes to start, against importing torch alone (its floor).

    python benchmarks/cli_startup_time.py --repeats 5 --json-out results.json
    # another checkout's code, through the same environment:
    PYTHONPATH=/path/to/checkout/src python benchmarks/cli_startup_time.py --repeats 5

Each measurement is a fresh interpreter: `python -m siamkit.cli --help` (what every `siamkit ...` command pays
before it does anything) and `python -c "import torch"`, timed round-robin, best of `--repeats`; the ratio of the
two is what to compare between machines. The JSON also lists which heavy optional packages importing
`siamkit.cli` loads.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from siamkit.atomic import write_text_atomic
from timing import interleaved_runs, machine_description

HEAVY = ("sklearn", "scipy.stats", "matplotlib", "fastapi", "uvicorn", "onnxruntime")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="Timed starts of each, best taken (default 5).")
    parser.add_argument("--json-out", type=Path, help="Write the results as JSON here.")
    arguments = parser.parse_args()
    if arguments.repeats < 1:
        parser.error("--repeats must be at least 1")

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *command], capture_output=True, text=True, check=True, timeout=300)

    calls = {
        "siamkit --help": lambda: run("-m", "siamkit.cli", "--help"),
        "import torch": lambda: run("-c", "import torch"),
    }
    times = interleaved_runs(calls, repeats=arguments.repeats)
    probe = "import sys, siamkit, siamkit.cli; print(siamkit.__file__); "
    probe += f"print([n for n in {HEAVY!r} if n in sys.modules])"
    source, loaded = run("-c", probe).stdout.strip().splitlines()
    cli, torch_alone = times["siamkit --help"].best_seconds, times["import torch"].best_seconds
    result = {
        "machine": machine_description(),
        "siamkit_source": source,
        "repeats": arguments.repeats,
        "cli_seconds": cli,
        "import_torch_seconds": torch_alone,
        "cli_over_torch": cli / torch_alone,
        "heavy_packages_loaded": json.loads(loaded.replace("'", '"')),
    }
    print(json.dumps(result, indent=2))
    if arguments.json_out:
        write_text_atomic(arguments.json_out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
