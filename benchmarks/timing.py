"""Timing helpers shared by the benchmark scripts: best-of-N timing, the machine's matmul peak, machine facts.

Benchmarks on a small shared CPU are noisy; the best of several repeats is the least disturbed estimate of what
the code can do, so every number here is a minimum over repeats after warm-up runs.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


def best_time(function: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Seconds of the fastest of `repeats` calls of `function`, after `warmup` untimed calls.

    Warm-up calls absorb one-off costs (first-touch page faults, oneDNN primitive creation, compilation)
    that a long training run pays only once.
    """
    for _ in range(warmup):
        function()
    best = float("inf")
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


@dataclass(frozen=True)
class RunTimes:
    """Wall-clock seconds and minor page faults of each timed call."""

    seconds: list[float]
    page_faults: list[int]

    @property
    def best_seconds(self) -> float:
        return min(self.seconds)

    @property
    def fewest_page_faults(self) -> int:
        return min(self.page_faults)


def _timed_call(function: Callable[[], object]) -> tuple[float, int]:
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before


def interleaved_runs(functions: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, RunTimes]:
    """Times `repeats` calls of every function in turn (round-robin), after `warmup` untimed calls of each.

    Round-robin means that a burst of load from other processes slows every function alike instead of
    whichever happened to run during it, so the ratios between them stay fair on a shared machine. Minor
    page faults are counted too: they are a load-independent witness of memory-allocation overhead (each is
    a 4 KiB page the kernel zero-fills because the allocator gave memory back to the OS and asked again).
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    runs = {name: RunTimes([], []) for name in functions}
    for _ in range(max(repeats, 1)):
        for name, function in functions.items():
            seconds, page_faults = _timed_call(function)
            runs[name].seconds.append(seconds)
            runs[name].page_faults.append(page_faults)
    return runs


def matmul_peak_flops(size: int = 2048, repeats: int = 5) -> float:
    """Dense float32 matrix-multiply FLOP/s of this machine: `size` x `size` by `size` x `size`, best of `repeats`.

    A large square matmul is the most efficient thing the BLAS does, so it is the practical ceiling that
    training throughput is compared against.
    """
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(size, size, generator=generator)
    right = torch.randn(size, size, generator=generator)
    output = torch.empty(size, size)
    seconds = best_time(lambda: torch.matmul(left, right, out=output), repeats=repeats, warmup=1)
    return 2.0 * size**3 / seconds


def cpu_model_name() -> str:
    """The `Model name` line of `lscpu` (falls back to `platform.processor()` where lscpu is missing)."""
    try:
        listing = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or "unknown"
    for line in listing.splitlines():
        if line.strip().startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_description() -> dict[str, Any]:
    """Facts needed to interpret the numbers: CPU, core and thread counts, torch version, current load."""
    load_one, load_five, load_fifteen = os.getloadavg()
    return {
        "cpu_model": cpu_model_name(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python_version": platform.python_version(),
        "load_average": [round(load_one, 2), round(load_five, 2), round(load_fifteen, 2)],
    }
