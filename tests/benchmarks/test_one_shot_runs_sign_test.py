"""one_shot_runs_sign_test.py counts the runs each model wins and gives the sign test's p-value."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_benchmark


def write_result(path: Path, per_run: dict[str, float]) -> Path:
    path.write_text(json.dumps({"accuracy": sum(per_run.values()) / len(per_run), "per_run": per_run, "n_items": 0}))
    return path


def test_wins_losses_and_ties_are_counted_and_the_p_value_is_the_binomial_one(tmp_path: Path) -> None:
    first = write_result(tmp_path / "a.json", {f"run{i:02d}": 1.0 for i in range(10)})
    second = write_result(tmp_path / "b.json", {f"run{i:02d}": 0.9 if i < 8 else 1.0 for i in range(10)})
    out = tmp_path / "sign.json"
    completed = run_benchmark("one_shot_runs_sign_test.py", str(first), str(second), "--json-out", str(out))
    assert completed.returncode == 0, completed.stderr
    result = json.loads(out.read_text())
    assert (result["better"], result["worse"], result["equal"]) == (8, 0, 2)
    assert abs(result["p_value"] - 2 * 0.5**8) < 1e-12  # all 8 untied runs one way: 2 x (1/2)^8
    assert result["first_accuracy"] == 1.0


def test_results_on_different_runs_are_refused(tmp_path: Path) -> None:
    first = write_result(tmp_path / "a.json", {"run01": 1.0})
    second = write_result(tmp_path / "b.json", {"run02": 1.0})
    completed = run_benchmark("one_shot_runs_sign_test.py", str(first), str(second))
    assert completed.returncode == 2 and "different runs: run01, run02" in completed.stderr
