"""Core speed benchmark (issue 2): conv4 training/inference images/s, share of the matmul peak, in-batch pairs/s.

Run from the repository root with the project's virtual environment active:

    python benchmarks/core_speed.py --output benchmarks/results/core_speed.json   # full run, a few minutes
    python benchmarks/core_speed.py --quick                                         # smoke run, a few seconds

It measures, on this CPU:
  * the dense float32 matmul FLOP/s (2048 x 2048), the ceiling the rest is compared with, probed round-robin
    with the other measurements and taken as the fastest probe of the run;
  * conv4 training steps (embed the batch once, in-batch contrastive loss over all pairs, backward, AdamW) at
    105x105 (batch 128) and 28x28 (batch 256) in several CPU variants, as images/s, FLOP/s (FlopCounterMode on
    a real step) and share of the matmul peak, with the speed-up of each variant over the plain fp32 baseline;
  * conv4 inference images/s;
  * pairs scored per second with in-batch pairing versus a naive Siamese loop over explicit pairs;
  * the operators where a training step spends its time (torch.profiler).
All times are the best of `--repeats` runs after a warm-up run; the variants of one workload are timed
round-robin, so that load from other processes hits them alike.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from core_speed_pairs import measure_pair_rates
from core_speed_report import markdown_report
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
from remote_step import RemoteTrainingStep
from siamkit.atomic import write_text_atomic
from timing import MatmulProbe, RunTimes, interleaved_runs, machine_description

# Key of the matmul probe among the functions timed round-robin.
MATMUL = "matmul"

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


def _training_row(workload: Workload, variant: Variant, runs: RunTimes, flops: int) -> dict[str, Any]:
    seconds = runs.best_seconds
    return {
        "workload": workload.label,
        "side": workload.side,
        "batch_size": workload.batch_size,
        "variant": variant.name,
        "step_seconds": seconds,
        "images_per_second": workload.batch_size / seconds,
        "gflops_per_second": flops / seconds / 1e9,
        "page_faults_per_step": runs.fewest_page_faults,
        "all_step_seconds": runs.seconds,
    }


def _add_ratios(rows: list[dict[str, Any]], time_key: str) -> None:
    """Sets each row's `speedup_vs_baseline` from the baseline row of its workload (None without one)."""
    baselines = {row["workload"]: row[time_key] for row in rows if row["variant"] == "baseline"}
    for row in rows:
        baseline = baselines.get(row["workload"])
        row["speedup_vs_baseline"] = baseline / row[time_key] if baseline else None


def measure_training(
    settings: Settings, probe: MatmulProbe
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[float]]:
    """Training rows for every workload and variant, the FLOP counts behind them, and the matmul probe times.

    A workload's variants and the matmul probe are timed round-robin. Variants that reconfigure the allocator
    run in a child process of their own (`RemoteTrainingStep`), so they cannot affect the others.
    """
    rows: list[dict[str, Any]] = []
    flop_rows: list[dict[str, Any]] = []
    probe_seconds: list[float] = []
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
        with contextlib.ExitStack() as children:
            steps: dict[str, Callable[[], object]] = {
                variant.name: children.enter_context(RemoteTrainingStep(workload, variant))
                if variant.retained_heap
                else TrainingStep(workload, variant)
                for variant in variants
            }
            runs = interleaved_runs({**steps, MATMUL: probe}, repeats=settings.repeats)
        probe_seconds += runs[MATMUL].seconds
        rows += [_training_row(workload, variant, runs[variant.name], flops) for variant in variants]
    _add_ratios(rows, "step_seconds")
    return rows, flop_rows, probe_seconds


def measure_inference(settings: Settings, probe: MatmulProbe) -> tuple[list[dict[str, Any]], list[float]]:
    """Inference rows (eval mode, inference_mode) per workload and eager in-process variant, and probe times."""
    rows: list[dict[str, Any]] = []
    probe_seconds: list[float] = []
    for workload in settings.workloads:
        variants = [v for v in _variants_for(settings, workload) if not v.retained_heap and not v.compiled]
        steps = {variant.name: InferenceStep(workload, variant) for variant in variants}
        flops = {name: counted_flops(step) for name, step in steps.items()}
        runs = interleaved_runs({**steps, MATMUL: probe}, repeats=settings.repeats)
        probe_seconds += runs[MATMUL].seconds
        for name in steps:
            seconds = runs[name].best_seconds
            rows.append(
                {
                    "workload": workload.label,
                    "variant": name,
                    "batch_seconds": seconds,
                    "images_per_second": workload.batch_size / seconds,
                    "gflops_per_second": flops[name] / seconds / 1e9,
                }
            )
    _add_ratios(rows, "batch_seconds")
    return rows, probe_seconds


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
    probe = MatmulProbe(settings.matmul_size)
    probe_seconds = interleaved_runs({MATMUL: probe}, repeats=settings.matmul_repeats)[MATMUL].seconds
    training, flop_counts, training_probes = measure_training(settings, probe)
    inference, inference_probes = measure_inference(settings, probe)
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
    probe_seconds += interleaved_runs({MATMUL: probe}, repeats=settings.matmul_repeats)[MATMUL].seconds
    probe_seconds += training_probes + inference_probes
    # Other processes can only slow the probe down, so its fastest call over the whole run is the best
    # estimate of what the machine can do.
    peak = probe.flops / min(probe_seconds)
    for row in training + inference:
        row["peak_share"] = row["gflops_per_second"] * 1e9 / peak
    machine["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    return {
        "benchmark": "core_speed",
        "started": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "settings": {**asdict(settings), "workloads": [asdict(w) for w in settings.workloads]},
        "matmul": {
            "size": settings.matmul_size,
            "gflops_per_second": peak / 1e9,
            "probe_calls": len(probe_seconds),
            "median_gflops_per_second": probe.flops / statistics.median(probe_seconds) / 1e9,
        },
        "training_flops": flop_counts,
        "training": training,
        "inference": inference,
        "pairs": pairs,
        "bfloat16_relative_embedding_error": bfloat16_errors,
        "profile": profile_rows,
    }


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
    parser.add_argument("--sides", help="comma-separated image sides to keep (default: all, i.e. 105,28)")
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
    if arguments.sides:
        sides = {int(side) for side in arguments.sides.split(",")}
        settings.workloads = [workload for workload in settings.workloads if workload.side in sides]
        settings.pair_workloads = [workload for workload in settings.pair_workloads if workload.side in sides]
        if not settings.workloads:
            raise SystemExit(f"--sides: no workload has side {arguments.sides}")
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
