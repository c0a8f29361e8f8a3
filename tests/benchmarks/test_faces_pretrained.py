"""benchmarks/faces_pretrained.py end to end on one fold of ORL (no training: the pretrained model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_one_fold_scores_the_fold_people_and_writes_scores(shared_data: Path, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "faces_pretrained.py"),
         "--data", str(shared_data / "orl_faces" / "orl_faces.zip"),
         "--folds-to-run", "1", "--threads", "1", "--json-out", str(tmp_path / "r.json"),
         "--scores-out", str(tmp_path / "s.npz")],
        capture_output=True, text=True, timeout=600, cwd=BENCHMARKS,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    (fold,) = results["folds"]
    assert fold["test_people"] == "s9-s16" and fold["n_same"] == 360 and fold["n_different"] == 360
    assert fold["eer"] < 0.05 and not results["fine_tune"]
    assert (tmp_path / "s.npz").is_file()
