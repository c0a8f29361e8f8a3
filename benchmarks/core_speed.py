"""Core speed benchmark (issue 2): conv4 training/inference images/s, share of the matmul peak, in-batch pairs/s.

Run from the repository root with the project's virtual environment active:

    python benchmarks/core_speed.py --output benchmarks/results/core_speed.json   # full run, a few minutes
    python benchmarks/core_speed.py --quick                                         # smoke run, a few seconds

It measures, on this CPU and in this one process:
  * the dense float32 matmul FLOP/s (2048 x 2048, best of several), the ceiling the rest is compared with;
  * conv4 training steps (embed the batch once, in-batch contrastive loss over all pairs, backward, AdamW) at
    105x105 (batch 128) and 28x28 (batch 256) in several CPU variants, as images/s, FLOP/s (FlopCounterMode on
    a real step) and share of the matmul peak, with the speed-up of each variant over the plain fp32 baseline;
  * conv4 inference images/s;
  * pairs scored per second with in-batch pairing versus a naive Siamese loop over explicit pairs;
  * the operators where a training step spends its time (torch.profiler).
All times are the best of `--repeats` runs after a warm-up run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from core_speed_pairs import measure_pair_rates
from core_speed_steps import (
    VARIANTS,
    InferenceStep,
    TrainingStep,
    Variant,
    Workload,
    analytic_forward_flops,
    bfloat16_embedding_error,
    counted_flops,
    top_operations,
)
from retained_heap import retained_heap
from siamkit.atomic import write_text_atomic
from timing import RunTimes, interleaved_runs, machine_description, matmul_peak_flops

DEFAULT_VARIANTS = ("baseline", "channels_last", "channels_last+bf16", "channels_last+retained_heap")


@dataclass
class Settings:
    """What one benchmark run measures and how often."""

    workloads: list[Workload] = field(default_factory=lambda: [Workload(105, 128), Workload(28, 256)])
    variants: list[str] = field(default_factory=lambda: list(DEFAULT_VARIANTS))
    slow_variant_max_side: int = 28
    repeats: int = 3
    matmul_size: int = 2048
    matmul_repeats: int = 5
    pair_workloads: list[Workload] = field(default_factory=lambda: [Workload(105, 128), Workload(28, 128)])
    pair_variant: str = "channels_last"
    naive_training_pair_batch: int = 64
    naive_inference_pair_batch: int = 128
    profile: bool = True
    profile_variant: str = "channels_last"


def quick_settings(settings: Settings) -> Settings:
    """A smoke-test version of `settings` that runs in seconds: tiny batches, one repeat, small matmul."""
    tiny = Workload(28, 16)
    return replace(
        settings,
        workloads=[tiny],
        slow_variant_max_side=28,
        repeats=1,
        matmul_size=256,
        matmul_repeats=2,
        pair_workloads=[tiny],
        naive_training_pair_batch=8,
        naive_inference_pair_batch=8,
        profile=False,
    )


def _variants_for(settings: Settings, workload: Workload) -> list[Variant]:
    chosen = [VARIANTS[name] for name in settings.variants]
    return [variant for variant in chosen if not variant.slow or workload.side <= settings.slow_variant_max_side]


def _time_training(workload: Workload, variants: list[Variant], repeats: int) -> dict[str, RunTimes]:
    """Round-robin timing of the variants' training steps (the heap variant alone, see `measure_training`)."""
    steps: dict[str, Callable[[], object]] = {variant.name: TrainingStep(workload, variant) for variant in variants}
    if any(variant.retained_heap for variant in variants):
        with retained_heap():
            return interleaved_runs(steps, repeats=repeats)
    return interleaved_runs(steps, repeats=repeats)


def _training_row(
    workload: Workload, variant: Variant, runs: RunTimes, flops: int, peak: float, baseline_seconds: float | None
) -> dict[str, Any]:
    seconds = runs.best_seconds
    achieved = flops / seconds
    return {
        "workload": workload.label,
        "side": workload.side,
        "batch_size": workload.batch_size,
        "variant": variant.name,
        "step_seconds": seconds,
        "images_per_second": workload.batch_size / seconds,
        "gflops_per_second": achieved / 1e9,
        "peak_share": achieved / peak,
        "speedup_vs_baseline": baseline_seconds / seconds if baseline_seconds else None,
        "page_faults_per_step": runs.fewest_page_faults,
        "all_step_seconds": runs.seconds,
    }


def measure_training(settings: Settings, peak: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training rows for every workload and variant, and the FLOP counts behind them.

    The ordinary variants of a workload are timed round-robin. Variants that keep freed memory in the heap
    change glibc for the rest of the process (and the retained memory would speed up whatever runs next), so
    they run alone, after all the others.
    """
    flop_rows: list[dict[str, Any]] = []
    measured: list[tuple[Workload, Variant, RunTimes, int]] = []
    deferred: list[tuple[Workload, Variant, int]] = []
    for workload in settings.workloads:
        counting_step = TrainingStep(workload, VARIANTS["baseline"])
        flops = counted_flops(counting_step)
        forward = analytic_forward_flops(counting_step.encoder, counting_step.images)
        del counting_step
        flop_rows.append(
            {
                "workload": workload.label,
                "training_step_flops_per_image": flops / workload.batch_size,
                "analytic_forward_flops_per_image": forward / workload.batch_size,
                "step_over_forward": flops / forward,
            }
        )
        variants = _variants_for(settings, workload)
        ordinary = [variant for variant in variants if not variant.retained_heap]
        runs = _time_training(workload, ordinary, settings.repeats)
        measured += [(workload, variant, runs[variant.name], flops) for variant in ordinary]
        deferred += [(workload, variant, flops) for variant in variants if variant.retained_heap]
    for workload, variant, flops in deferred:
        runs = _time_training(workload, [variant], settings.repeats)
        measured.append((workload, variant, runs[variant.name], flops))
    baselines = {workload: run.best_seconds for workload, variant, run, _ in measured if variant.name == "baseline"}
    rows = [
        _training_row(workload, variant, run, flops, peak, baselines.get(workload))
        for workload, variant, run, flops in measured
    ]
    rows.sort(key=lambda row: (-row["side"], settings.variants.index(row["variant"])))
    return rows, flop_rows


def measure_inference(settings: Settings, peak: float) -> list[dict[str, Any]]:
    """Inference images/s (eval mode, inference_mode) per workload for the non-heap variants that run eagerly."""
    rows: list[dict[str, Any]] = []
    for workload in settings.workloads:
        variants = [v for v in _variants_for(settings, workload) if not v.retained_heap and not v.compiled]
        steps = {variant.name: InferenceStep(workload, variant) for variant in variants}
        flops = {name: counted_flops(step) for name, step in steps.items()}
        runs = interleaved_runs(dict(steps), repeats=settings.repeats)
        baseline_seconds = runs["baseline"].best_seconds if "baseline" in runs else None
        for name, run in runs.items():
            seconds = run.best_seconds
            rows.append(
                {
                    "workload": workload.label,
                    "variant": name,
                    "batch_seconds": seconds,
                    "images_per_second": workload.batch_size / seconds,
                    "gflops_per_second": flops[name] / seconds / 1e9,
                    "peak_share": flops[name] / seconds / peak,
                    "speedup_vs_baseline": baseline_seconds / seconds if baseline_seconds else None,
                }
            )
    return rows


def measure_pairs(settings: Settings) -> list[dict[str, Any]]:
    """In-batch versus naive pairs/s, for training and for inference, per pair workload."""
    variant = VARIANTS[settings.pair_variant]
    rows: list[dict[str, Any]] = []
    for workload in settings.pair_workloads:
        for training in (True, False):
            pair_batch = settings.naive_training_pair_batch if training else settings.naive_inference_pair_batch
            rates = measure_pair_rates(workload, variant, training, pair_batch, settings.repeats)
            rows.append(
                {
                    "workload": workload.label,
                    "mode": "training" if training else "inference",
                    "variant": variant.name,
                    "pairs_per_batch": workload.pairs_per_batch,
                    "in_batch_pairs_per_second": rates.in_batch_pairs_per_second,
                    "naive_pairs_per_second": rates.naive_pairs_per_second,
                    "naive_pair_batch": pair_batch,
                    "naive_pairs_measured": rates.naive_pairs_measured,
                    "speedup": rates.speedup,
                }
            )
    return rows


def run_benchmark(settings: Settings, command: str = "") -> dict[str, Any]:
    """Runs every measurement in `settings` and returns the results as a JSON-ready dictionary.

    Args:
        settings: What to measure.
        command: The command line that asked for it, recorded with the results.
    """
    started = datetime.datetime.now().astimezone()
    machine = machine_description()
    peak_before = matmul_peak_flops(settings.matmul_size, settings.matmul_repeats)
    training, flop_counts = measure_training(settings, peak_before)
    inference = measure_inference(settings, peak_before)
    pairs = measure_pairs(settings)
    bfloat16_errors = {
        workload.label: bfloat16_embedding_error(workload)
        for workload in settings.workloads
        if any(VARIANTS[name].bfloat16 for name in settings.variants)
    }
    profile_rows: list[dict[str, Any]] = []
    if settings.profile:
        largest = max(settings.workloads, key=lambda workload: workload.side)
        profile_rows = top_operations(TrainingStep(largest, VARIANTS[settings.profile_variant]))
    # The peak is the machine's capability: noise from other processes only lowers a measurement, so the
    # higher of the two (start and end of the run) is the better estimate.
    peak_after = matmul_peak_flops(settings.matmul_size, settings.matmul_repeats)
    peak = max(peak_before, peak_after)
    for row in training + inference:
        row["peak_share"] = row["gflops_per_second"] * 1e9 / peak
    machine["load_average_at_end"] = list(os.getloadavg())
    return {
        "benchmark": "core_speed",
        "started": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "settings": {**asdict(settings), "workloads": [asdict(w) for w in settings.workloads]},
        "matmul": {
            "size": settings.matmul_size,
            "gflops_per_second": peak / 1e9,
            "gflops_per_second_start": peak_before / 1e9,
            "gflops_per_second_end": peak_after / 1e9,
        },
        "training_flops": flop_counts,
        "training": training,
        "inference": inference,
        "pairs": pairs,
        "bfloat16_relative_embedding_error": bfloat16_errors,
        "profile": profile_rows,
    }


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def markdown_report(results: dict[str, Any]) -> str:
    """The results as markdown tables, as pasted into docs/benchmarks.md."""
    machine = results["machine"]
    parts = [
        f"Machine: {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs, {machine['torch_threads']} torch "
        f"threads, torch {machine['torch_version']} ({machine['cpu_capability']}); load average at start "
        f"{machine['load_average'][0]}, at end {machine['load_average_at_end'][0]:.2f}.",
        f"Dense float32 matmul {results['matmul']['size']}x{results['matmul']['size']}: "
        f"**{results['matmul']['gflops_per_second']:.1f} GFLOP/s** (best of start and end of the run).",
        "Training (in-batch contrastive over all pairs, AdamW):",
        _table(
            ["workload", "variant", "step s", "images/s", "GFLOP/s", "% of matmul peak", "vs baseline", "page faults"],
            [
                [
                    row["workload"],
                    row["variant"],
                    f"{row['step_seconds']:.3f}",
                    f"{row['images_per_second']:.1f}",
                    f"{row['gflops_per_second']:.1f}",
                    f"{100 * row['peak_share']:.0f}%",
                    _ratio(row["speedup_vs_baseline"]),
                    f"{row['page_faults_per_step']:,}",
                ]
                for row in results["training"]
            ],
        ),
        "FLOPs per image of a training step (FlopCounterMode) and of the forward pass (from layer shapes):",
        _table(
            ["workload", "training step MFLOP/image", "forward MFLOP/image", "ratio"],
            [
                [
                    row["workload"],
                    f"{row['training_step_flops_per_image'] / 1e6:.1f}",
                    f"{row['analytic_forward_flops_per_image'] / 1e6:.1f}",
                    f"{row['step_over_forward']:.2f}",
                ]
                for row in results["training_flops"]
            ],
        ),
        "Inference (eval mode, torch.inference_mode):",
        _table(
            ["workload", "variant", "images/s", "GFLOP/s", "% of matmul peak", "vs baseline"],
            [
                [
                    row["workload"],
                    row["variant"],
                    f"{row['images_per_second']:.1f}",
                    f"{row['gflops_per_second']:.1f}",
                    f"{100 * row['peak_share']:.0f}%",
                    _ratio(row["speedup_vs_baseline"]),
                ]
                for row in results["inference"]
            ],
        ),
        "Pairs per second, in-batch pairing versus a naive Siamese loop over the same pairs:",
        _table(
            ["workload", "mode", "pairs in batch", "in-batch pairs/s", "naive pairs/s", "naive pairs timed", "ratio"],
            [
                [
                    row["workload"],
                    row["mode"],
                    str(row["pairs_per_batch"]),
                    f"{row['in_batch_pairs_per_second']:.0f}",
                    f"{row['naive_pairs_per_second']:.1f}",
                    str(row["naive_pairs_measured"]),
                    f"**{row['speedup']:.0f}x**",
                ]
                for row in results["pairs"]
            ],
        ),
    ]
    if results["bfloat16_relative_embedding_error"]:
        errors = ", ".join(
            f"{label}: {error:.2e}" for label, error in results["bfloat16_relative_embedding_error"].items()
        )
        parts.append(f"bfloat16 autocast relative embedding error: {errors}.")
    if results["profile"]:
        parts.append(f"Top operators of a training step ({results['settings']['profile_variant']}, largest workload):")
        parts.append(
            _table(
                ["operator", "self s/step", "share", "calls/step"],
                [
                    [
                        f"`{row['operator']}`",
                        f"{row['self_seconds_per_step']:.3f}",
                        f"{100 * row['share']:.1f}%",
                        str(row["calls_per_step"]),
                    ]
                    for row in results["profile"]
                ],
            )
        )
    return "\n\n".join(parts)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds); numbers are meaningless")
    parser.add_argument("--output", help="write the results as JSON to this path")
    parser.add_argument("--repeats", type=int, help="timed repeats per measurement, best taken (default 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all CPUs)")
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated training variants, from: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--compile", action="store_true", help="add the torch.compile variant (compiles for minutes)")
    parser.add_argument(
        "--slow-variant-max-side",
        type=int,
        help="run bf16/compile variants only for images up to this side (default 28: they are slow here)",
    )
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, help="profile a training step")
    return parser.parse_args(argv)


def settings_from_arguments(arguments: argparse.Namespace) -> Settings:
    """Settings for the parsed command line; `--quick` shrinks everything first, explicit options win."""
    settings = Settings()
    if arguments.quick:
        settings = quick_settings(settings)
    variants = [name.strip() for name in arguments.variants.split(",") if name.strip()]
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if arguments.compile and "channels_last+compile" not in variants:
        variants.append("channels_last+compile")
    settings.variants = variants
    if arguments.repeats is not None:
        settings.repeats = arguments.repeats
    if arguments.slow_variant_max_side is not None:
        settings.slow_variant_max_side = arguments.slow_variant_max_side
    if arguments.profile is not None:
        settings.profile = arguments.profile
    return settings


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the benchmark for the command line `argv`, prints markdown tables and returns the results."""
    arguments = parse_arguments(argv)
    words = sys.argv[1:] if argv is None else argv
    command = " ".join(["python benchmarks/core_speed.py", *words])
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(arguments.threads)
    try:
        results = run_benchmark(settings_from_arguments(arguments), command)
    finally:
        torch.set_num_threads(previous_threads)
    print(markdown_report(results))
    if arguments.output:
        write_text_atomic(arguments.output, json.dumps(results, indent=2) + "\n")
        print(f"\nResults written to {arguments.output}")
    return results


if __name__ == "__main__":
    main()
