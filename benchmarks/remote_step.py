"""A training step that runs in a child process, for variants that change process-wide state.

The retained-heap variant reconfigures the C allocator for the whole process; measured in the parent it
would change every measurement after it. In a child of its own it can still be timed round-robin with the
parent's variants: each call asks the child for one step and returns the child's own measurement.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType

import torch

from core_speed_steps import TrainingStep, Variant, Workload
from siamkit.training.memory import keep_freed_memory_in_heap
from timing import Measurement, measure_call

_STEP = "step"
_STOP = "stop"


def _serve(connection: Connection, workload: Workload, variant: Variant, threads: int) -> None:
    """The child's loop: build the step once, then run and measure one step per request until told to stop.

    (A spawned child starts with the parent's `sys.path`, so it finds this module and its siblings.)
    """
    torch.set_num_threads(threads)
    if variant.retained_heap:
        keep_freed_memory_in_heap()
    step = TrainingStep(workload, variant)
    connection.send("ready")
    while connection.recv() == _STEP:
        connection.send(measure_call(step))
    connection.close()


class RemoteTrainingStep:
    """Runs `TrainingStep(workload, variant)` in a spawned child process; each call is one measured step.

    Use it as a context manager so the child always exits.

    Args:
        workload: Image size and batch size.
        variant: The variant the child sets itself up for (its allocator setting included).
    """

    def __init__(self, workload: Workload, variant: Variant) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child_end, workload, variant, torch.get_num_threads()), daemon=True
        )
        self._process.start()
        child_end.close()
        if self._connection.recv() != "ready":
            raise RuntimeError(f"the child process for variant {variant.name} did not start")

    def __call__(self) -> Measurement:
        self._connection.send(_STEP)
        measurement = self._connection.recv()
        assert isinstance(measurement, Measurement)
        return measurement

    def close(self) -> None:
        """Stops the child process and waits for it."""
        if self._process.is_alive():
            self._connection.send(_STOP)
            self._process.join(timeout=60)
        self._connection.close()

    def __enter__(self) -> RemoteTrainingStep:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
