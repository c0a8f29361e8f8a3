"""Timing helpers shared by the benchmark scripts: round-robin best-of-N timing, the matmul peak, machine facts.

Benchmarks on a small shared CPU are noisy; the best of several repeats is the least disturbed estimate of what
the code can do, so every number here is a minimum over repeats after warm-up runs, and things that are compared
with each other are timed in turn rather than one after the other.
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


@dataclass(frozen=True)
class Measurement:
    """Wall-clock seconds and minor page faults of one call.

    Page faults are a load-independent witness of memory-allocation overhead: each is a 4 KiB page the kernel
    zero-fills because the allocator gave memory back to the OS and asked for it again.
    """

    seconds: float
    page_faults: int


@dataclass(frozen=True)
class RunTimes:
    """The measurements of every timed call of one function."""

    measurements: list[Measurement]

    @property
    def seconds(self) -> list[float]:
        return [measurement.seconds for measurement in self.measurements]

    @property
    def best_seconds(self) -> float:
        return min(self.seconds)

    @property
    def fewest_page_faults(self) -> int:
        return min(measurement.page_faults for measurement in self.measurements)


def measure_call(function: Callable[[], object]) -> Measurement:
    """Times one call of `function` in this process; a function that does its work elsewhere (a child
    process) returns its own `Measurement`, which is then used instead."""
    faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    if isinstance(result, Measurement):
        return result
    return Measurement(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before)


def interleaved_runs(functions: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, RunTimes]:
    """Times `repeats` calls of every function in turn (round-robin), after `warmup` untimed calls of each.

    Round-robin means that a burst of load from other processes slows every function alike instead of
    whichever happened to run during it, so the ratios between them stay fair on a shared machine; the best
    of the repeats is each function's least disturbed time.
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    runs: dict[str, RunTimes] = {name: RunTimes([]) for name in functions}
    for _ in range(max(repeats, 1)):
        for name, function in functions.items():
            runs[name].measurements.append(measure_call(function))
    return runs


class MatmulProbe:
    """One dense float32 `size` x `size` matrix product per call: the machine's practical FLOP/s ceiling.

    A large square matmul is the most efficient thing the BLAS does. The probe is cheap (a fraction of a
    second), so benchmarks interleave it with their own work and take the best rate seen over the whole run,
    rather than trusting one measurement that a burst of load may have spoilt.
    """

    def __init__(self, size: int = 2048) -> None:
        generator = torch.Generator().manual_seed(0)
        self.left = torch.randn(size, size, generator=generator)
        self.right = torch.randn(size, size, generator=generator)
        self.output = torch.empty(size, size)
        self.flops = 2.0 * size**3

    def __call__(self) -> None:
        torch.matmul(self.left, self.right, out=self.output)


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
