"""Candidate recipes for issues 3 and 4, trained side by side on one GPU, each for a fixed wall-time budget.

A GPU lease is short (minutes), so every candidate gets the same wall-clock budget
(`training.time_budget_minutes`: the learning rate anneals to fit the budget) and they all run at once, one
process each, sharing the GPU. Each candidate is one of the existing benchmark scripts with `--set` overrides of
its preset, so every result here can be re-run on its own with the command its JSON records:

    python benchmarks/gpu_sweep.py --data-dir DIR --out OUT --minutes 6.5 [--only NAME,NAME]
    python benchmarks/gpu_sweep.py --list

DIR holds images_background.zip (Omniglot), orl_faces.zip and cedar_dev.zip. `--final` trains the chosen
candidates' recipes on all the data of their task instead (all 30 Omniglot alphabets, all 40 people, all 45
writers) with the recipe runner of `siamkit train --config`, to ship; a shipped verification model's threshold
then comes from the held-out scores of the same candidate's sweep run (benchmarks/store_decision.py).
`--seeds 1,2` trains more copies with other seeds (ensembles). OUT receives, per candidate, the result JSON,
the log and, for Omniglot and final runs, the model bundle, packed as one .tar.gz per group (small enough to
fetch back from a lent machine). Results of the 2026-11-23 sweep: benchmarks/results/gpu_sweep/ and
docs/benchmarks.md "GPU sweep".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from verification_folds import preset_recipe

HERE = Path(__file__).resolve().parent


def size(height: int, width: int) -> list[str]:
    """Overrides that set the network's input and the preprocessing's output to `height x width`."""
    return [
        *setting("network.encoder.input_shape", [1, height, width]),
        *setting("preprocessing.image_size", [height, width]),
    ]


def encoder(name: str, **options: object) -> list[str]:
    """Overrides that pick the encoder by its registered name, with its options."""
    return [*setting("network.encoder.name", name), *setting("network.encoder.options", options)]


def setting(key: str, value: object) -> list[str]:
    """One `--set section.key=JSON` override."""
    return ["--set", f"{key}={json.dumps(value)}"]


@dataclass
class Candidate:
    """One training process: which benchmark script, which task group, which overrides."""

    script: str
    group: str
    overrides: list[str] = field(default_factory=list)
    keep_model: bool = False
    budget_share: float = 1.0  # of --minutes; the k-fold script divides it over its folds


RESNET_SMALL = encoder("resnet", widths=[32, 64, 128, 256])
RESNET_OMNIGLOT = encoder("resnet", widths=[64, 128, 256, 256])
CANDIDATES: dict[str, Candidate] = {
    "omniglot-conv4-40": Candidate("omniglot_time_to_accuracy.py", "omniglot-conv4-40", keep_model=True),
    "omniglot-conv4w128-56": Candidate(
        "omniglot_time_to_accuracy.py",
        "omniglot-conv4w128-56",
        [
            *encoder("conv4", width=128),
            *size(56, 56),
            *setting("training.classes_per_batch", 64),
            *setting("training.groups_per_batch", 8),
        ],
        keep_model=True,
    ),
    "omniglot-resnet-56": Candidate(
        "omniglot_time_to_accuracy.py", "omniglot-resnet-56", [*RESNET_OMNIGLOT, *size(56, 56)], keep_model=True
    ),
    "omniglot-resnet-56-b256": Candidate(
        "omniglot_time_to_accuracy.py",
        "omniglot-resnet-56-b256",
        [
            *RESNET_OMNIGLOT,
            *size(56, 56),
            *setting("training.classes_per_batch", 64),
            *setting("training.groups_per_batch", 8),
        ],
        keep_model=True,
    ),
    "omniglot-resnet-64": Candidate(
        "omniglot_time_to_accuracy.py", "omniglot-resnet-64", [*RESNET_OMNIGLOT, *size(64, 64)], keep_model=True
    ),
    "faces-conv4-96": Candidate("faces_kfold.py", "faces", [*size(96, 80)]),
    "faces-conv4-96-triplet": Candidate(
        "faces_kfold.py",
        "faces",
        [
            *size(96, 80),
            *setting("training.loss", "triplet"),
            *setting("training.loss_options", {"margin": 0.3}),
            *setting("training.mining", "hard"),
            *setting("training.classes_per_batch", 32),
        ],
    ),
    "faces-resnet-96": Candidate("faces_kfold.py", "faces", [*RESNET_SMALL, *size(96, 80)]),
    "signatures-conv4-96": Candidate(
        "signatures_split.py",
        "signatures",
        [*encoder("conv4", width=64), *size(96, 144), *setting("network.encoder.embedding_dim", 128)],
        budget_share=0.85,  # decoding and cleaning the scans takes a minute before training starts
    ),
    "signatures-resnet-96": Candidate(
        "signatures_split.py",
        "signatures",
        [*RESNET_SMALL, *size(96, 144), *setting("network.encoder.embedding_dim", 128)],
        budget_share=0.85,
    ),
    "signatures-resnet-96-decay": Candidate(
        "signatures_split.py",
        "signatures",
        [
            *RESNET_SMALL,
            *size(96, 144),
            *setting("network.encoder.embedding_dim", 128),
            *setting("training.weight_decay", 0.01),
        ],
        budget_share=0.85,
    ),
}


PRESETS = {
    "omniglot_time_to_accuracy.py": "omniglot-best",
    "faces_kfold.py": "faces",
    "signatures_split.py": "signatures",
}
DATA_FILES = {
    "omniglot_time_to_accuracy.py": "images_background.zip",
    "faces_kfold.py": "orl_faces.zip",
    "signatures_split.py": "cedar_dev.zip",
}


def command(
    name: str,
    candidate: Candidate,
    data_dir: Path,
    out: Path,
    work: Path,
    minutes: float,
    final: bool,
    seed: int,
    device: str = "cuda",
) -> list[str]:
    """The command line for a candidate, with the GPU, the time budget and the seed set."""
    folds = 5 if candidate.script == "faces_kfold.py" and not final else 1
    budget = round(minutes * candidate.budget_share / folds, 3)
    training = [
        *setting("training.device", device),
        *setting("training.time_budget_minutes", budget),
        *setting("training.epochs", 1_000_000),
        *setting("training.max_steps", None),
        *setting("training.seed", seed),
    ]
    data = data_dir / DATA_FILES[candidate.script]
    if final:
        overrides = [*training, *candidate.overrides]
        if candidate.script == "omniglot_time_to_accuracy.py":
            overrides += setting("data.held_out_groups", [])
        recipe = preset_recipe(PRESETS[candidate.script], data, work / name, overrides[1::2])
        config = out / f"{name}-recipe.json"
        config.write_text(json.dumps(recipe.to_dict(), indent=2))
        # What `siamkit train --config` runs, without the CLI's imports (a lent GPU machine lacks faiss).
        train = (
            "import sys; from siamkit.training.recipe import TrainingRecipe, run_recipe; "
            "run_recipe(TrainingRecipe.from_file(sys.argv[1]))"
        )
        return [sys.executable, "-c", train, str(config)]
    common = [*training, "--threads", "1"]
    script = [sys.executable, str(HERE / candidate.script)]
    result = out / f"{name}.json"
    if candidate.script == "omniglot_time_to_accuracy.py":
        return [
            *script,
            "--data", str(data_dir / "images_background.zip"),
            "--output", str(work / name),
            "--runs", str(work / f"runs-{name}"),
            "--result", str(result),
            *setting("training.validation_every_epochs", 4),
            *common, *candidate.overrides,
        ]  # fmt: skip
    return [
        *script,
        "--data", str(data),
        "--output", str(work / name),
        "--json-out", str(result),
        "--scores-out", str(out / f"{name}-scores.npz"),
        *common, *candidate.overrides,
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/gpu-sweep"))
    parser.add_argument("--minutes", type=float, default=6.5, help="Training budget of each candidate.")
    parser.add_argument("--deadline-minutes", type=float, default=9.0, help="Kill what is still running then.")
    parser.add_argument("--only", default=None, help="Comma-separated candidate names (default: all).")
    parser.add_argument("--device", default="cuda", help="Where to train (cpu: to try the sweep out).")
    parser.add_argument("--final", action="store_true", help="Train on all the data of each task, to ship.")
    parser.add_argument("--seeds", default="0", help="Comma-separated seeds; each seed is one more process.")
    parser.add_argument("--list", action="store_true", help="Print the candidates' commands and exit.")
    arguments = parser.parse_args()
    names = arguments.only.split(",") if arguments.only else list(CANDIDATES)
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: {sorted(CANDIDATES)}")
    data_dir = arguments.data_dir or Path("../shared/data")
    out = arguments.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="siamkit-gpu-sweep-"))
    runs: dict[str, tuple[str, int]] = {}  # run name -> (candidate name, seed)
    for name in names:
        for seed in (int(text) for text in arguments.seeds.split(",")):
            runs[("final-" if arguments.final else "") + name + (f"-seed{seed}" if seed else "")] = (name, seed)
    commands = {
        run: command(
            run, CANDIDATES[name], data_dir, out, work, arguments.minutes, arguments.final, seed, arguments.device
        )
        for run, (name, seed) in runs.items()
    }
    if arguments.list:
        for name, line in commands.items():
            print(name + ":", " ".join(line))
        return

    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    processes = {}
    for name, line in commands.items():
        log = (out / f"{name}.log").open("w")
        processes[name] = subprocess.Popen(line, stdout=log, stderr=subprocess.STDOUT, env=environment)
    deadline = started + arguments.deadline_minutes * 60
    while any(process.poll() is None for process in processes.values()) and time.monotonic() < deadline:
        time.sleep(2)
    for name, process in processes.items():
        if process.poll() is None:
            process.kill()
            print(f"{name}: killed at the deadline", flush=True)
        print(f"{name}: exit {process.wait()} after {time.monotonic() - started:.0f} s", flush=True)

    groups: dict[str, list[str]] = {}  # one archive per model-keeping run (bundles are large), else per task
    for run, (name, _) in runs.items():
        candidate = CANDIDATES[name]
        group = run if candidate.keep_model else ("final-" if arguments.final else "") + candidate.group
        groups.setdefault(group, []).append(run)
    for group, members in groups.items():
        with tarfile.open(out / f"{group}.tar.gz", "w:gz") as archive:
            for run in members:
                for suffix in (".json", ".log", "-scores.npz", "-recipe.json"):
                    if (out / f"{run}{suffix}").is_file():
                        archive.add(out / f"{run}{suffix}", arcname=f"{run}{suffix}")
                model = work / run / "model"
                if (CANDIDATES[runs[run][0]].keep_model or arguments.final) and model.is_dir():
                    archive.add(model, arcname=f"{run}-model")
    print(json.dumps({"seconds": round(time.monotonic() - started)}))


if __name__ == "__main__":
    main()
