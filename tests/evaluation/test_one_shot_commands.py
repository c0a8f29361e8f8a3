"""`siamkit make-runs` and `siamkit one-shot-runs` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


def run_siamkit(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from siamkit.cli import main; main()", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def alphabet_folder(tmp_path: Path) -> Path:
    generator = np.random.default_rng(0)
    for alphabet in ("Alpha", "Beta"):
        for character in range(1, 5):
            folder = tmp_path / "background" / alphabet / f"character{character:02d}"
            folder.mkdir(parents=True)
            for drawer in range(1, 4):
                image = np.where(generator.random((20, 20)) > 0.8, 0, 255).astype(np.uint8)
                Image.fromarray(image).save(folder / f"{character:04d}_{drawer:02d}.png")
    return tmp_path / "background"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    config = SiameseConfig(EncoderConfig("conv4", (1, 20, 20), 8, {"width": 4}), ComparisonConfig("euclidean"))
    model = SiameseModel(SiameseNetwork.from_config(config), PreprocessingConfig(image_size=(20, 20), invert=True))
    model.save(tmp_path / "model")
    return tmp_path / "model"


def test_make_runs_then_score_them_as_json(alphabet_folder: Path, bundle: Path, tmp_path: Path) -> None:
    made = run_siamkit(
        "make-runs", "--data", str(alphabet_folder), "--output", str(tmp_path / "runs"), "--alphabets", "Beta",
        "--runs", "3", "--ways", "4", "--seed", "2",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "wrote 3 4-way runs" in made.stdout
    scored = run_siamkit("one-shot-runs", "--model", str(bundle), "--runs", str(tmp_path / "runs"), "--json")
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert set(result) == {"accuracy", "per_run", "n_items"}
    assert result["n_items"] == 12 and list(result["per_run"]) == ["run01", "run02", "run03"]
    assert result["accuracy"] == pytest.approx(sum(result["per_run"].values()) / 3)


def test_errors_are_one_line_with_exit_code_2(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "runs" / "run01").mkdir(parents=True)
    completed = run_siamkit("one-shot-runs", "--model", str(bundle), "--runs", str(tmp_path / "runs"))
    assert completed.returncode == 2
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "class_labels.txt: missing" in lines[0]
