"""Every number and figure of docs/landmarks.md: the ablation, the method sweeps and the late landmarks.

Runs on CPU in a pool of worker processes (one torch thread each), writes the PNGs into --images and prints
the tables as markdown on stdout (progress goes to stderr).

    python benchmarks/landmarks_ablation.py --seeds 5 --sweep-seeds 3 --workers 2 > landmarks_tables.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamkit.applications.landmarks.ablation import FIXES, AblationRow, ablation_configs
from siamkit.applications.landmarks.comparison import (
    METHODS,
    ComparisonSetting,
    SettingResult,
    SweepRow,
    evaluate_setting,
    summarize_sweep,
    sweep_settings,
)
from siamkit.applications.landmarks.diagnostics import (
    distance_statistics,
    embedding_spectrum,
    landmark_geometry,
    post_error_growth,
    training_pair_agreement,
)
from siamkit.applications.landmarks.experiment import LandmarkExperimentConfig, run_landmark_experiment
from siamkit.applications.landmarks.late_landmarks import (
    LateLandmarksConfig,
    LateLandmarksRow,
    run_late_landmarks,
    summarize_late_landmarks,
)
from siamkit.applications.landmarks.plots import plot_ablation, plot_late_landmarks, plot_sweep
from siamkit.atomic import write_text_atomic

logger = logging.getLogger("landmarks_ablation")

# (parameter, values, base setting): the noise sweep is the post's problem (11 landmarks in 10-D); the other
# sweeps add 1% range noise, except the training-set sweep, which isolates the network's own learning error.
SWEEPS: tuple[tuple[str, tuple[float, ...], ComparisonSetting], ...] = (
    ("noise", (0.0, 0.001, 0.003, 0.01, 0.03, 0.1), ComparisonSetting()),
    ("n_landmarks", (11, 12, 15, 20, 40), ComparisonSetting(noise=0.01)),
    ("n_dimensions", (2, 3, 5, 10, 20), ComparisonSetting(noise=0.01)),
    ("training_points", (64, 256, 1024, 4096, 16384), ComparisonSetting(noise=0.0)),
)
LATE_SCENARIO = LateLandmarksConfig(added_landmarks=(0, 5, 10, 20), noise=0.01, adaptation_steps=500)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the ablation (>= 5 for the write-up)")
    parser.add_argument("--sweep-seeds", type=int, default=3, help="seeds of each sweep point and late landmarks")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--images", type=Path, default=Path("docs/images/landmarks"), help="where PNGs go")
    parser.add_argument("--results-json", type=Path, default=None, help="also write every number as JSON")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["diagnostics", "ablation", "sweeps", "late"], help="parts to skip"
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    seeds = list(range(arguments.seeds))
    sweep_seeds = list(range(arguments.sweep_seeds))
    with ProcessPoolExecutor(max_workers=arguments.workers, initializer=_single_thread) as pool:
        diagnostics_job = pool.submit(diagnostics_markdown) if "diagnostics" not in arguments.skip else None
        ablation_jobs: list[tuple[str, str, list[Future[Any]]]] = []
        if "ablation" not in arguments.skip:
            for name, description, config in ablation_configs(leave_one_out=True):
                futures = [pool.submit(run_landmark_experiment, dataclasses.replace(config, seed=s)) for s in seeds]
                ablation_jobs.append((name, description, futures))
        sweep_jobs: list[tuple[str, list[Future[SettingResult]]]] = []
        # Sweeps share settings (e.g. 11 landmarks, 10-D, σ = 0.01 appears in three); each runs once.
        setting_jobs: dict[tuple[Any, ...], Future[SettingResult]] = {}
        if "sweeps" not in arguments.skip:
            for parameter, values, base in SWEEPS:
                jobs = []
                for setting in sweep_settings(parameter, values, base, sweep_seeds):
                    key = dataclasses.astuple(setting)
                    if key not in setting_jobs:
                        setting_jobs[key] = pool.submit(evaluate_setting, setting, METHODS)
                    jobs.append(setting_jobs[key])
                sweep_jobs.append((parameter, jobs))
        late_jobs: list[Future[list[LateLandmarksRow]]] = []
        if "late" not in arguments.skip:
            late_jobs = [
                pool.submit(run_late_landmarks, dataclasses.replace(LATE_SCENARIO, seed=s)) for s in sweep_seeds
            ]
        ablation = [AblationRow(name, text, [_wait(f, name) for f in futures]) for name, text, futures in ablation_jobs]
        sweeps = {
            parameter: summarize_sweep(parameter, [_wait(f, parameter) for f in jobs]) for parameter, jobs in sweep_jobs
        }
        late = summarize_late_landmarks([row for job in late_jobs for row in _wait(job, "late landmarks")])
        diagnostics = _wait(diagnostics_job, "diagnostics") if diagnostics_job is not None else None
    elapsed = time.perf_counter() - started
    arguments.images.mkdir(parents=True, exist_ok=True)
    sections = [_header(arguments, elapsed)]
    if diagnostics:
        sections.append(diagnostics)
    if ablation:
        summaries = [row.summary() for row in ablation]
        plot_ablation(summaries, arguments.images / "ablation.png")
        sections.append(_ablation_markdown(summaries))
    for parameter, rows in sweeps.items():
        plot_sweep(rows, arguments.images / f"sweep_{parameter}.png", _SWEEP_TITLES[parameter])
        sections.append(_sweep_markdown(parameter, rows))
    if "noise" in sweeps:
        sections.append(_bound_markdown(sweeps["noise"]))
    if late:
        plot_late_landmarks(late, arguments.images / "late_landmarks.png")
        sections.append(_late_markdown(late))
    print("\n\n".join(sections))
    if arguments.results_json is not None:
        payload = {
            "ablation": [row.summary() for row in ablation],
            "sweeps": {parameter: [row.to_dict() for row in rows] for parameter, rows in sweeps.items()},
            "late_landmarks": late,
            "diagnostics_markdown": diagnostics,
            "elapsed_seconds": elapsed,
        }
        write_text_atomic(arguments.results_json, json.dumps(payload, indent=2))


_SWEEP_TITLES = {
    "noise": "Range noise (11 landmarks, 10-D)",
    "n_landmarks": "Number of landmarks (10-D, σ = 0.01)",
    "n_dimensions": "Dimension (d + 1 landmarks, σ = 0.01)",
    "training_points": "Network training points (11 landmarks, 10-D, exact ranges)",
}


def diagnostics_markdown() -> str:
    """The measurements behind the explanations of each defect, as markdown."""
    original = LandmarkExperimentConfig.original()
    statistics = distance_statistics()
    lines = [
        "Distances between uniform points in [0, 1]^10 (2000 points): "
        f"mean {statistics['mean']:.3f}, standard deviation {statistics['std']:.3f}; pair error of random "
        f"guessing {statistics['random_pair_error']:.3f}, of predicting the median distance for every pair "
        f"{statistics['constant_pair_error']:.3f}.",
        "",
        "| test points | post's error of random guessing | pair error of random guessing |",
        "|---|---|---|",
    ]
    for row in post_error_growth((11, 41, 101, 1001), repeats=20):
        lines.append(
            f"| {row['test_points']} | {row['post_error_mean']:.3f} ± {row['post_error_std']:.3f} "
            f"| {row['pair_error_mean']:.3f} |"
        )
    lines += [
        "",
        "| landmarks in 10-D | smallest / largest singular value (median) | Cramér-Rao RMSE per unit σ (median) "
        "| (90th percentile) |",
        "|---|---|---|---|",
    ]
    for row in landmark_geometry((11, 12, 15, 20, 40), draws=50):
        lines.append(
            f"| {row['landmarks']} | {row['smallest_to_largest_singular_value']:.3f} "
            f"| {row['rmse_bound_per_sigma_median']:.2f} | {row['rmse_bound_per_sigma_90th_percentile']:.2f} |"
        )
    lines += [
        "",
        "| seed-0 network | correlation(compared distance, target) on training pairs | std ratio | compared mean "
        "| target mean | target median |",
        "|---|---|---|---|---|---|",
    ]
    fixed = LandmarkExperimentConfig.fixed()
    for name, config, trained in (
        ("original, before training", original, False),
        ("original (with the broadcast bug)", original, True),
        ("original without the broadcast bug", dataclasses.replace(original, broadcast_bug=False), True),
        ("all fixes, before training", fixed, False),
        ("all fixes but the broadcast bug", dataclasses.replace(fixed, broadcast_bug=True), True),
        ("all fixes", fixed, True),
    ):
        agreement = training_pair_agreement(config, trained)
        lines.append(
            f"| {name} | {agreement['correlation']:.3f} | {agreement['std_ratio']:.3f} "
            f"| {agreement['compared_mean']:.3f} | {agreement['target_mean']:.3f} | {agreement['target_median']:.3f} |"
        )
    raw_inputs = dataclasses.replace(fixed, input_transform="distance", whiten_inputs=False)
    lines += ["", "Singular values of the affine map from true positions to the seed-0 network's coordinates:", ""]
    for name, config in (("all fixes", fixed), ("all but input_preparation", raw_inputs)):
        spectrum = ", ".join(f"{value:.2f}" for value in embedding_spectrum(config))
        lines.append(f"- {name}: {spectrum}")
    return "\n".join(lines)


def _single_thread() -> None:
    # Small MLPs run fastest on one thread each; the pool supplies the parallelism.
    torch.set_num_threads(1)


def _wait(future: Future[Any], label: str) -> Any:
    result = future.result()
    logger.info("done: %s", label)
    return result


def _header(arguments: argparse.Namespace, elapsed: float) -> str:
    machine = f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    versions = f"torch {torch.__version__}, numpy {np.__version__}"
    command = f"--seeds {arguments.seeds} --sweep-seeds {arguments.sweep_seeds} --workers {arguments.workers}"
    return f"<!-- benchmarks/landmarks_ablation.py {command}; {machine}; {versions}; wall time {elapsed:.0f} s -->"


def _pm(summary: dict[str, Any], field: str, digits: int = 3) -> str:
    return f"{summary[f'{field}_mean']:.{digits}f} ± {summary[f'{field}_std']:.{digits}f}"


def _ablation_markdown(summaries: list[dict[str, Any]]) -> str:
    lines = [
        "| configuration | post's error (11 test points) | random, post's measure | pair error (1000 points) "
        "| random pair error | pair error / random | position RMSE | distance spread |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for summary in summaries:
        lines.append(
            f"| {summary['name']} | {_pm(summary, 'post_error')} | {_pm(summary, 'post_random_error')} "
            f"| {_pm(summary, 'pair_error', 4)} | {_pm(summary, 'pair_random_error', 4)} "
            f"| {_pm(summary, 'ratio_to_random')} | {_pm(summary, 'coordinate_rmse')} "
            f"| {_pm(summary, 'spread_ratio', 2)} |"
        )
    legend = "; ".join(f"`{fix.name}`: {fix.description}" for fix in FIXES)
    return "\n".join(lines) + f"\n\nFixes: {legend}."


def _number(value: float) -> str:
    return f"{value:.3g}" if value != 0 else "0"


def _sweep_markdown(parameter: str, rows: list[SweepRow]) -> str:
    methods = list(dict.fromkeys(row.method for row in rows))
    values = list(dict.fromkeys(row.value for row in rows))
    by_key = {(row.value, row.method): row for row in rows}
    header = f"| {parameter} | " + " | ".join(methods) + " | Cramér-Rao bound |"
    lines = [f"Position RMSE (pair error in brackets), mean over {rows[0].seeds} seeds:", "", header]
    lines.append("|" + "---|" * (len(methods) + 2))
    for value in values:
        cells = [
            f"{_number(by_key[(value, method)].rmse_mean)} ({_number(by_key[(value, method)].pair_error_mean)})"
            for method in methods
        ]
        lines.append(
            f"| {_number(value)} | "
            + " | ".join(cells)
            + f" | {_number(by_key[(value, methods[0])].rmse_bound_mean)} |"
        )
    return "\n".join(lines)


def _bound_markdown(rows: list[SweepRow]) -> str:
    by_key = {(row.value, row.method): row for row in rows}
    lines = [
        "| noise σ | Cramér-Rao bound | refined trilateration | refined / bound | linear trilateration "
        "| landmark MDS | network |",
        "|---|---|---|---|---|---|---|",
    ]
    for value in dict.fromkeys(row.value for row in rows):
        bound = by_key[(value, "trilateration_refined")].rmse_bound_mean
        refined = by_key[(value, "trilateration_refined")].rmse_mean
        ratio = f"{refined / bound:.2f}" if bound > 0 else "—"
        lines.append(
            f"| {_number(value)} | {_number(bound)} | {_number(refined)} | {ratio} "
            f"| {_number(by_key[(value, 'trilateration_linear')].rmse_mean)} "
            f"| {_number(by_key[(value, 'landmark_mds')].rmse_mean)} "
            f"| {_number(by_key[(value, 'network')].rmse_mean)} |"
        )
    return "\n".join(lines)


def _late_markdown(summaries: list[dict[str, Any]]) -> str:
    methods = list(dict.fromkeys(summary["method"] for summary in summaries))
    by_key = {(summary["added"], summary["method"]): summary for summary in summaries}
    lines = ["| landmarks added | " + " | ".join(methods) + " | Cramér-Rao bound |", "|" + "---|" * (len(methods) + 2)]
    for added in dict.fromkeys(summary["added"] for summary in summaries):
        cells = [f"{by_key[(added, m)]['rmse_mean']:.3f} ± {by_key[(added, m)]['rmse_std']:.3f}" for m in methods]
        lines.append(f"| {added} | " + " | ".join(cells) + f" | {by_key[(added, methods[0])]['rmse_bound_mean']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
