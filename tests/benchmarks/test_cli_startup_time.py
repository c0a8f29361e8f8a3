"""cli_startup_time.py times the command line's start against importing torch (the times are the script's to
measure, not the tests')."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_benchmark


def test_the_start_is_timed_against_torch_and_names_the_code_it_ran(tmp_path: Path) -> None:
    out = tmp_path / "startup.json"
    completed = run_benchmark("cli_startup_time.py", "--repeats", "1", "--json-out", str(out))
    assert completed.returncode == 0, completed.stderr
    result = json.loads(out.read_text())
    assert result["cli_over_torch"] == result["cli_seconds"] / result["import_torch_seconds"]
    assert result["siamkit_source"].endswith("siamkit/__init__.py")
    assert result["heavy_packages_loaded"] == []


def test_repeats_below_one_are_refused() -> None:
    completed = run_benchmark("cli_startup_time.py", "--repeats", "0")
    assert completed.returncode == 2 and completed.stderr.strip().endswith("--repeats must be at least 1")
