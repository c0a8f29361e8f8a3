"""`siamkit one-shot-runs` and `siamkit make-runs`: Lake-format one-shot evaluation from the command line.

Register with `app.command("one-shot-runs")(one_shot_runs_command)` and `app.command("make-runs")(make_runs_command)`.
User errors raise `SiamkitError` subclasses, which the siamkit CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from siamkit.errors import ConfigError


def one_shot_runs_command(
    model: Annotated[
        list[Path], typer.Option(help="Model bundle folder; repeat the option to average several (an ensemble).")
    ],
    runs: Annotated[Path, typer.Option(help="Lake's all_runs/ folder (or its parent), or make-runs output.")],
    onnx: Annotated[
        list[Path] | None,
        typer.Option(help="Embed through this ONNX export (siamkit export) of each --model, in the same order."),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    test_time_shift: Annotated[
        int, typer.Option(help="Average embeddings over copies shifted by up to this many pixels (0: off).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print {accuracy, per_run, n_items} as JSON.")] = False,
) -> None:
    """Score N-way one-shot runs: each test item is classified by its most similar training image."""
    from siamkit.evaluation.one_shot_runs import evaluate_one_shot_runs
    from siamkit.model import SiameseModel

    models = [SiameseModel.load(path, device=device) for path in model]
    if onnx:
        if len(onnx) != len(models):
            raise ConfigError(f"--onnx was given {len(onnx)} time(s) for {len(models)} --model(s); give one each")
        for loaded, export in zip(models, onnx, strict=True):
            loaded.use_onnx_export(export)
    result = evaluate_one_shot_runs(models, runs, test_time_shift=test_time_shift)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    for name, accuracy in result.per_run.items():
        typer.echo(f"{name}: {accuracy:.4f}")
    typer.echo(
        f"accuracy {result.accuracy:.4f} (error {1 - result.accuracy:.2%}) over {result.n_items} test items "
        f"in {len(result.per_run)} runs"
    )


def make_runs_command(
    data: Annotated[str, typer.Option(help="Alphabet/character/<image>_<drawer>.png folder or zip (Omniglot).")],
    output: Annotated[Path, typer.Option(help="Folder to write run01, run02, ... into (replaced whole).")],
    alphabets: Annotated[
        str | None, typer.Option(help="Comma-separated alphabets to draw runs from (default: all large enough).")
    ] = None,
    runs: Annotated[int, typer.Option(help="Number of runs.")] = 20,
    ways: Annotated[int, typer.Option(help="Characters per run.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the characters, drawers and test order.")] = 0,
) -> None:
    """Write within-alphabet one-shot runs in Lake et al.'s format (training/, test/, class_labels.txt)."""
    from siamkit.evaluation.run_generator import make_one_shot_runs

    names = None
    if alphabets is not None:
        names = [name.strip() for name in alphabets.split(",") if name.strip()]
        if not names:
            raise ConfigError("--alphabets names no alphabet")
    generated = make_one_shot_runs(data, output, alphabets=names, runs=runs, ways=ways, seed=seed)
    typer.echo(f"wrote {len(generated)} {ways}-way runs to {output}")
