"""Rich progress bars for training: loss, images per second and time remaining."""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainingProgress:
    """A progress bar over optimiser steps; a no-op when disabled (non-main processes, `show_progress=False`)."""

    def __init__(self, total_steps: int, completed: int = 0, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]train[/bold] epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]} img/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._progress.add_task(
                "train", total=total_steps, completed=completed, epoch=0, loss="-", rate="-"
            )

    def __enter__(self) -> TrainingProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, step: int, epoch: int, loss: float, images_per_second: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=step, epoch=epoch, loss=f"{loss:.4f}", rate=f"{images_per_second:,.0f}"
            )

    def note(self, message: str) -> None:
        """Prints a line above the bar (validation results)."""
        if self._progress is not None:
            self._progress.console.print(message)
