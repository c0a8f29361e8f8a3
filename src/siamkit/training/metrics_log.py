"""An append-only JSONL log of training metrics, one JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from siamkit.atomic import write_text_atomic


class MetricsLog:
    """Appends records to `path`; disabled logs (non-main processes) write nothing.

    Args:
        path: The JSONL file.
        enabled: Whether this process writes.
    """

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """Drops records past `step`, so a resumed run does not log the replayed steps twice."""
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
        write_text_atomic(self.path, "".join(line + "\n" for line in kept))

    def clear(self) -> None:
        if self.enabled and self.path.exists():
            self.path.unlink()

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as file:
            file.write(json.dumps(record, default=float) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]
