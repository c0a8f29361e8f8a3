"""Wall-clock budget of a training run: when to stop, and how far through the run the schedule is."""

from __future__ import annotations

import time


class TrainingClock:
    """Measures the loop's wall time against an optional budget.

    A run with a budget stops when the budget is spent, and its learning-rate schedule follows whichever is
    further along, steps or time, so a run cut short by the clock has still decayed its learning rate (a
    cosine schedule meant for 20,000 steps that is stopped at step 6,000 would end at a high rate).

    Args:
        budget_seconds: Wall time the loop may take, validation included; None for no limit.
        already_elapsed: Seconds spent before a resume, counted against the budget.
    """

    def __init__(self, budget_seconds: float | None, already_elapsed: float = 0.0) -> None:
        self.budget_seconds = budget_seconds
        self._already_elapsed = already_elapsed
        self._started = time.perf_counter()

    def restore(self, elapsed_before: float) -> None:
        """Counts `elapsed_before` seconds (from a checkpoint) as already spent, for a resumed run."""
        self._already_elapsed = elapsed_before

    def elapsed(self) -> float:
        """Seconds of training so far, including those before a resume."""
        return self._already_elapsed + time.perf_counter() - self._started

    def fraction(self) -> float:
        """Share of the budget used, in [0, 1]; 0 without a budget."""
        if self.budget_seconds is None:
            return 0.0
        return min(1.0, self.elapsed() / self.budget_seconds)

    def spent(self) -> bool:
        """Whether the budget is used up (never, without one)."""
        return self.budget_seconds is not None and self.elapsed() >= self.budget_seconds
