"""Markdown tables of the core speed benchmark's results (the format pasted into docs/benchmarks.md)."""

from __future__ import annotations

from typing import Any


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
        f"**{results['matmul']['gflops_per_second']:.1f} GFLOP/s** (fastest of {results['matmul']['probe_calls']} "
        f"calls spread over the run; median {results['matmul']['median_gflops_per_second']:.1f}).",
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
