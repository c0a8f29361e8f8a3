"""Fixtures for the benchmark scripts' tests: tiny Omniglot-like characters, runs made from them, and a random
ResNet bundle that can score them."""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.bundle import save_bundle
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.evaluation.run_generator import make_one_shot_runs
from siamkit.network import SiameseConfig, SiameseNetwork

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def import_benchmark(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    """A benchmark script as a module (its helpers are tested one by one)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module(name)


def run_benchmark(script: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs `benchmarks/<script>` as a user would, from the repository root."""
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True, text=True, timeout=120, cwd=BENCHMARKS.parent,
    )  # fmt: skip


@dataclass(frozen=True)
class TinyCharacters:
    """Two alphabets of 5 characters, each drawn identically by 3 drawers; 2 five-way runs; a random bundle."""

    images: Path
    runs: Path
    model: Path


@pytest.fixture
def tiny_characters(tmp_path: Path) -> TinyCharacters:
    root = tmp_path / "images_background"
    generator = np.random.default_rng(0)
    for alphabet in ("Alpha", "Beta"):
        for character in range(1, 6):
            prototype = generator.integers(0, 2, size=(4, 4)).repeat(4, axis=0).repeat(4, axis=1) * 255
            folder = root / alphabet / f"character{character:02d}"
            folder.mkdir(parents=True)
            for drawer in range(1, 4):
                Image.fromarray(prototype.astype(np.uint8)).save(folder / f"{character:02d}_{drawer:02d}.png")
    make_one_shot_runs(root, tmp_path / "runs", runs=2, ways=5, seed=0)
    torch.manual_seed(0)
    encoder = EncoderConfig("resnet", (1, 16, 16), 8, {"widths": [4, 8]})
    network = SiameseNetwork.from_config(
        SiameseConfig(encoder, ComparisonConfig("euclidean"), normalize_embeddings=True)
    )
    save_bundle(tmp_path / "model", network, PreprocessingConfig(image_size=(16, 16)))
    return TinyCharacters(root, tmp_path / "runs", tmp_path / "model")
