"""benchmarks/score_ensemble.py: per-model and ensemble EERs from held-out scores of the same pairs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "score_ensemble.py"


def write_scores(path: Path, similarities: np.ndarray, labels: np.ndarray) -> Path:
    np.savez(path, similarities=similarities, labels=labels)
    return path


def run(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, paths)], capture_output=True, text=True, timeout=120)


def test_two_models_with_independent_errors_beat_each_alone(tmp_path: Path) -> None:
    generator = np.random.default_rng(0)
    labels = np.repeat([1, 0], 2000)
    signal = np.where(labels == 1, 1.0, -1.0)
    first = write_scores(tmp_path / "a.npz", signal + generator.normal(0, 1.2, labels.size), labels)
    # Same ranking quality, another scale and independent noise: standardising lets both count equally.
    second = write_scores(tmp_path / "b.npz", 50 * (signal + generator.normal(0, 1.2, labels.size)), labels)
    completed = run(first, second)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    alone = list(result["models"].values())
    assert result["n_pairs"] == 4000 and all(0.15 < eer < 0.25 for eer in alone)
    assert result["ensemble_eer"] < min(alone) - 0.03


def test_scores_of_different_pairs_are_refused(tmp_path: Path) -> None:
    labels = np.array([1, 1, 0, 0])
    first = write_scores(tmp_path / "a.npz", np.array([0.9, 0.8, 0.1, 0.2]), labels)
    second = write_scores(tmp_path / "b.npz", np.array([0.9, 0.8, 0.1, 0.2]), labels[::-1].copy())
    completed = run(first, second)
    assert completed.returncode == 2 and "b.npz: its pairs are not those of" in completed.stderr
