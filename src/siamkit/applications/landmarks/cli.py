"""`siamkit landmarks`: the landmark-distance experiment, its ablation, the method sweeps and late landmarks.

Register with `app.command("landmarks")(landmarks_command)`. Bad options raise `ConfigError`, which the
siamkit CLI turns into a one-line message and exit code 2.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from siamkit.applications.landmarks.ablation import FIXES, run_ablation
from siamkit.applications.landmarks.comparison import METHODS, ComparisonSetting, run_sweep
from siamkit.applications.landmarks.experiment import (
    LandmarkExperimentConfig,
    run_landmark_experiment,
    summarize_results,
)
from siamkit.applications.landmarks.late_landmarks import (
    LATE_METHODS,
    LateLandmarksConfig,
    run_late_landmarks,
    summarize_late_landmarks,
)
from siamkit.errors import ConfigError

TASKS = ("experiment", "ablation", "compare", "late-landmarks")
PRESETS = ("original", "fixed")
DEFAULT_SWEEP_VALUES = {
    "noise": "0,0.001,0.003,0.01,0.03,0.1",
    "n_landmarks": "11,12,15,20,40",
    "n_dimensions": "2,3,5,10,20",
    "training_points": "64,256,1024,4096,16384",
}


def landmarks_command(
    task: Annotated[str, typer.Option(help=f"What to run: {', '.join(TASKS)}.")] = "experiment",
    preset: Annotated[
        str | None,
        typer.Option(
            help="Network set-up: 'original' (the post's) or 'fixed'. Default: original for the "
            "experiment and ablation, fixed for compare and late-landmarks."
        ),
    ] = None,
    n_landmarks: Annotated[int | None, typer.Option(help="Landmarks (the post: 11).")] = None,
    n_points: Annotated[int | None, typer.Option(help="Points including the landmarks (the post: 41).")] = None,
    dimensions: Annotated[int | None, typer.Option(help="Dimensions of the space (the post: 10).")] = None,
    test_fraction: Annotated[float | None, typer.Option(help="Held-out share of the points (0.25).")] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; results are averaged over them.")] = "0",
    epochs: Annotated[int | None, typer.Option(help="Passes over all training pairs when --steps is 0.")] = None,
    steps: Annotated[int | None, typer.Option(help="Steps of random pairs; 0 = the post's epoch regime.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Pairs per step (128).")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    learning_rate_schedule: Annotated[str | None, typer.Option(help="'constant' or 'cosine'.")] = None,
    hidden_sizes: Annotated[str | None, typer.Option(help="Comma-separated hidden widths (200,200).")] = None,
    output_activation: Annotated[str | None, typer.Option(help="sigmoid, none, tanh or relu.")] = None,
    distance_form: Annotated[
        str | None,
        typer.Option(
            help="'mismatched' (squared embedding distance vs plain target, the post's), 'euclidean' or 'squared'."
        ),
    ] = None,
    penalty: Annotated[str | None, typer.Option(help="absolute, squared or huber.")] = None,
    broadcast_bug: Annotated[
        bool | None, typer.Option("--broadcast-bug/--no-broadcast-bug", help="Keras' (batch, batch) target bug.")
    ] = None,
    training_points: Annotated[
        int | None, typer.Option(help="Fresh training points; 0 = the post's split of its 41 points.")
    ] = None,
    input_transform: Annotated[str | None, typer.Option(help="'distance' or 'squared' network inputs.")] = None,
    whiten_inputs: Annotated[
        bool | None, typer.Option("--whiten-inputs/--no-whiten-inputs", help="Whiten the network inputs.")
    ] = None,
    noise: Annotated[float | None, typer.Option(help="Std of Gaussian noise on every measured distance.")] = None,
    evaluation_points: Annotated[int | None, typer.Option(help="Fresh points for the pair error (1000).")] = None,
    methods: Annotated[
        str | None, typer.Option(help=f"compare: comma-separated subset of {', '.join(METHODS)}.")
    ] = None,
    test_points: Annotated[int, typer.Option(help="compare / late-landmarks: points to locate.")] = 500,
    sweep: Annotated[str, typer.Option(help="compare: noise, n_landmarks, n_dimensions or training_points.")] = "noise",
    sweep_values: Annotated[str | None, typer.Option(help="compare: comma-separated values to sweep.")] = None,
    added_landmarks: Annotated[str, typer.Option(help="late-landmarks: counts of added landmarks.")] = "0,5,10,20",
    adaptation_steps: Annotated[int, typer.Option(help="late-landmarks: fine-tune / retrain steps.")] = 500,
    leave_one_out: Annotated[
        bool, typer.Option("--leave-one-out/--no-leave-one-out", help="ablation: also 'all fixes but one' rows.")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    plots_dir: Annotated[
        Path | None, typer.Option(help="ablation / compare / late-landmarks: write PNGs here.")
    ] = None,
) -> None:
    """Can a Siamese network turn distances to landmarks into coordinates? Reproduce, fix and compare."""
    if task not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    chosen_preset = preset or ("original" if task in ("experiment", "ablation") else "fixed")
    if chosen_preset not in PRESETS:
        raise ConfigError(f"--preset must be one of {', '.join(PRESETS)}, got {chosen_preset!r}")
    base = LandmarkExperimentConfig.original() if chosen_preset == "original" else LandmarkExperimentConfig.fixed()
    overrides: dict[str, Any] = {
        "n_landmarks": n_landmarks,
        "n_points": n_points,
        "n_dimensions": dimensions,
        "test_fraction": test_fraction,
        "epochs": epochs,
        "steps": steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "learning_rate_schedule": learning_rate_schedule,
        "hidden_dims": tuple(_parse_ints(hidden_sizes, "--hidden-sizes")) if hidden_sizes is not None else None,
        "output_activation": output_activation,
        "distance_form": distance_form,
        "penalty": penalty,
        "broadcast_bug": broadcast_bug,
        "training_points": training_points,
        "input_transform": input_transform,
        "whiten_inputs": whiten_inputs,
        "noise": noise,
        "evaluation_points": evaluation_points,
    }
    config = dataclasses.replace(base, **{key: value for key, value in overrides.items() if value is not None})
    seed_list = _parse_ints(seeds, "--seeds")
    if task == "experiment":
        if n_landmarks is not None and n_points is None:
            config = dataclasses.replace(config, n_points=n_landmarks + 30)  # the post's 30 non-landmark points
        config.validate()
        payload = _experiment(config, seed_list)
    elif task == "ablation":
        config.validate()
        payload = _ablation(config, seed_list, leave_one_out, plots_dir)
    elif task == "compare":
        payload = _compare(config, seed_list, methods, sweep, sweep_values, test_points, plots_dir)
    else:
        payload = _late(config, seed_list, added_landmarks, adaptation_steps, test_points, methods, plots_dir)
    if json_output:
        typer.echo(json.dumps(payload, indent=2, allow_nan=True))
    else:
        _print_tables(payload)


def _experiment(config: LandmarkExperimentConfig, seeds: list[int]) -> dict[str, Any]:
    results = [run_landmark_experiment(dataclasses.replace(config, seed=seed)) for seed in seeds]
    return {
        "task": "experiment",
        "config": config.to_dict(),
        "seeds": seeds,
        "runs": [result.to_dict() for result in results],
        "summary": summarize_results(results),
    }


def _ablation(
    config: LandmarkExperimentConfig, seeds: list[int], leave_one_out: bool, plots_dir: Path | None
) -> dict[str, Any]:
    rows = [row.summary() for row in run_ablation(seeds, config, leave_one_out)]
    if plots_dir is not None:
        from siamkit.applications.landmarks.plots import plot_ablation

        plot_ablation(rows, plots_dir / "ablation.png")
    return {
        "task": "ablation",
        "base_config": config.to_dict(),
        "fixes": [{"name": fix.name, "description": fix.description, "overrides": fix.overrides} for fix in FIXES],
        "seeds": seeds,
        "rows": rows,
    }


def _compare(
    config: LandmarkExperimentConfig,
    seeds: list[int],
    methods: str | None,
    sweep: str,
    sweep_values: str | None,
    test_points: int,
    plots_dir: Path | None,
) -> dict[str, Any]:
    method_list = _parse_names(methods) if methods else list(METHODS)
    if sweep not in DEFAULT_SWEEP_VALUES:
        raise ConfigError(f"--sweep must be one of {', '.join(DEFAULT_SWEEP_VALUES)}, got {sweep!r}")
    values = _parse_floats(sweep_values or DEFAULT_SWEEP_VALUES[sweep], "--sweep-values")
    setting = ComparisonSetting(
        n_landmarks=config.n_landmarks,
        n_dimensions=config.n_dimensions,
        noise=config.noise,
        training_points=config.training_points or 4096,
        test_points=test_points,
    )
    rows = run_sweep(sweep, values, setting, seeds, method_list, config)
    if plots_dir is not None:
        from siamkit.applications.landmarks.plots import plot_sweep

        plot_sweep(rows, plots_dir / f"sweep_{sweep}.png", f"Locating points from landmark distances: {sweep}")
    return {
        "task": "compare",
        "parameter": sweep,
        "values": values,
        "seeds": seeds,
        "setting": dataclasses.asdict(setting),
        "network_config": config.to_dict(),
        "rows": [row.to_dict() for row in rows],
    }


def _late(
    config: LandmarkExperimentConfig,
    seeds: list[int],
    added_landmarks: str,
    adaptation_steps: int,
    test_points: int,
    methods: str | None,
    plots_dir: Path | None,
) -> dict[str, Any]:
    method_list = _parse_names(methods) if methods else list(LATE_METHODS)
    late_rows = []
    scenario = LateLandmarksConfig(
        initial_landmarks=config.n_landmarks,
        added_landmarks=tuple(_parse_ints(added_landmarks, "--added-landmarks")),
        n_dimensions=config.n_dimensions,
        noise=config.noise,
        training_points=config.training_points or 4096,
        adaptation_steps=adaptation_steps,
        test_points=test_points,
    )
    for seed in seeds:
        late_rows += run_late_landmarks(dataclasses.replace(scenario, seed=seed), config, method_list)
    rows = summarize_late_landmarks(late_rows)
    if plots_dir is not None:
        from siamkit.applications.landmarks.plots import plot_late_landmarks

        plot_late_landmarks(rows, plots_dir / "late_landmarks.png")
    return {
        "task": "late-landmarks",
        "scenario": dataclasses.asdict(scenario),
        "network_config": config.to_dict(),
        "seeds": seeds,
        "rows": rows,
    }


def _print_tables(payload: dict[str, Any]) -> None:
    console = Console()
    task = payload["task"]
    if task == "experiment":
        table = Table(title="Landmark experiment: network vs random guessing")
        columns = ("seed", "post_error", "post_random_error", "pair_error", "pair_random_error", "ratio_to_random")
        for column in (*columns, "coordinate_rmse"):
            table.add_column(column, justify="right")
        for run in payload["runs"]:
            table.add_row(*(_format(run[column]) for column in (*columns, "coordinate_rmse")))
        summary = payload["summary"]
        table.add_row(
            "mean ± std",
            *(
                f"{summary[f'{column}_mean']:.4f} ± {summary[f'{column}_std']:.4f}"
                for column in (*columns[1:], "coordinate_rmse")
            ),
        )
    elif task == "ablation":
        table = Table(title=f"Ablation over seeds {payload['seeds']}")
        for column in ("configuration", "post error", "random (post)", "pair error", "ratio to random", "RMSE"):
            table.add_column(column, justify="right" if column != "configuration" else "left")
        for row in payload["rows"]:
            table.add_row(
                row["name"],
                *(
                    f"{row[f'{field}_mean']:.3f} ± {row[f'{field}_std']:.3f}"
                    for field in ("post_error", "post_random_error", "pair_error", "ratio_to_random", "coordinate_rmse")
                ),
            )
    elif task == "compare":
        table = Table(title=f"Methods against {payload['parameter']} (seeds {payload['seeds']})")
        for column in (payload["parameter"], "method", "pair error", "position RMSE", "Cramér-Rao bound"):
            table.add_column(column, justify="right")
        for row in payload["rows"]:
            table.add_row(
                _format(row["value"]),
                row["method"],
                f"{row['pair_error_mean']:.4g} ± {row['pair_error_std']:.2g}",
                f"{row['rmse_mean']:.4g} ± {row['rmse_std']:.2g}",
                f"{row['rmse_bound_mean']:.4g}",
            )
    else:
        table = Table(title=f"Landmarks added after training (seeds {payload['seeds']})")
        for column in ("added", "method", "position RMSE", "pair error", "Cramér-Rao bound"):
            table.add_column(column, justify="right")
        for row in payload["rows"]:
            table.add_row(
                str(row["added"]),
                row["method"],
                f"{row['rmse_mean']:.4g} ± {row['rmse_std']:.2g}",
                f"{row['pair_error_mean']:.4g} ± {row['pair_error_std']:.2g}",
                f"{row['rmse_bound_mean']:.4g}",
            )
    console.print(table)


_Number = TypeVar("_Number", int, float)


def _format(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _parse_list(text: str, option: str, convert: Callable[[str], _Number], what: str) -> list[_Number]:
    """Comma-separated values of one type, or a ConfigError naming the option."""
    try:
        values = [convert(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated {what}, got {text!r}") from None
    if not values:
        raise ConfigError(f"{option} needs at least one value")
    return values


def _parse_ints(text: str, option: str) -> list[int]:
    return _parse_list(text, option, int, "integers")


def _parse_floats(text: str, option: str) -> list[float]:
    return _parse_list(text, option, float, "numbers")


def _parse_names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
