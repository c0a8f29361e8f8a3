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


def run(*arguments: Path | str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), *map(str, arguments)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


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


def test_combined_as_an_euclidean_ensemble_bundle_and_written_for_store_decision(tmp_path: Path) -> None:
    labels = np.array([1, 1, 0, 0])
    first = write_scores(tmp_path / "a.npz", np.array([-0.3, -0.4, -1.2, -0.35]), labels)
    second = write_scores(tmp_path / "b.npz", np.array([-0.5, -1.0, -1.0, -1.3]), labels)
    out = tmp_path / "ensemble.npz"
    completed = run("--comparison", "euclidean", "--scores-out", out, first, second)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["combined_as"] == "euclidean ensemble bundle"
    with np.load(out) as written:
        # The ensemble's distance is the root of the members' mean squared distance.
        expected = -np.sqrt([(0.09 + 0.25) / 2, (0.16 + 1.0) / 2, (1.44 + 1.0) / 2, (0.1225 + 1.69) / 2])
        np.testing.assert_allclose(written["similarities"], expected)
        assert np.array_equal(written["labels"], labels)
    # Each model alone ranks one different pair above a same pair; together they separate all four.
    assert result["ensemble_eer"] == 0.0 and min(result["models"].values()) > 0


def test_scores_out_without_a_comparison_is_refused(tmp_path: Path) -> None:
    labels = np.array([1, 0])
    first = write_scores(tmp_path / "a.npz", np.array([0.9, 0.1]), labels)
    completed = run("--scores-out", tmp_path / "out.npz", first, first)
    assert completed.returncode == 2 and "--scores-out needs --comparison" in completed.stderr
    assert not (tmp_path / "out.npz").exists()


def test_by_size_summarises_every_subset(tmp_path: Path) -> None:
    generator = np.random.default_rng(1)
    labels = np.repeat([1, 0], 300)
    signal = np.where(labels == 1, -0.5, -1.0)
    paths = [
        write_scores(tmp_path / f"{index}.npz", signal + generator.normal(0, 0.3, labels.size), labels)
        for index in range(3)
    ]
    completed = run("--comparison", "cosine", "--by-size", *paths)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    rows = result["by_size"]
    assert [(row["size"], row["subsets"]) for row in rows] == [(1, 3), (2, 3), (3, 1)]
    alone = list(result["models"].values())
    assert rows[0]["mean_eer"] == sum(alone) / 3 and rows[0]["min_eer"] == min(alone)
    assert rows[2]["mean_eer"] == rows[2]["max_eer"] == result["ensemble_eer"]
    # Independent noise averages out: each further member lowers the mean EER.
    assert rows[0]["mean_eer"] > rows[1]["mean_eer"] > rows[2]["mean_eer"]
