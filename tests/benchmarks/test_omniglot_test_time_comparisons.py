"""benchmarks/omniglot_test_time_comparisons.py: local-descriptor matching against a hand computation, and a
whole run of the script on tiny generated runs with a random ResNet bundle."""

from __future__ import annotations

import json
import subprocess
import sys
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
SCRIPT = BENCHMARKS / "omniglot_test_time_comparisons.py"


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import omniglot_test_time_comparisons

    return omniglot_test_time_comparisons


def test_local_match_takes_each_locations_best_match_then_averages(comparisons: ModuleType) -> None:
    generator = torch.Generator().manual_seed(0)
    queries = torch.nn.functional.normalize(torch.randn(2, 3, 4, generator=generator), dim=-1)
    references = torch.nn.functional.normalize(torch.randn(3, 5, 4, generator=generator), dim=-1)
    expected = torch.zeros(2, 3)
    for query in range(2):
        for reference in range(3):
            best = [max(float(queries[query, i] @ references[reference, j]) for j in range(5)) for i in range(3)]
            expected[query, reference] = sum(best) / 3
    assert torch.allclose(comparisons.local_match(queries, references), expected, atol=1e-6)
    # An image matched with itself: every location finds itself, cosine 1.
    assert torch.allclose(comparisons.local_match(queries, queries).diagonal(), torch.ones(2), atol=1e-6)


def test_the_script_scores_every_comparison_on_generated_runs(tmp_path: Path) -> None:
    root = tmp_path / "images_background"
    generator = np.random.default_rng(0)
    for character in range(1, 6):
        prototype = generator.integers(0, 2, size=(4, 4)).repeat(4, axis=0).repeat(4, axis=1) * 255
        folder = root / "Alpha" / f"character{character:02d}"
        folder.mkdir(parents=True)
        for drawer in range(1, 4):
            Image.fromarray(prototype.astype(np.uint8)).save(folder / f"{character:02d}_{drawer:02d}.png")
    make_one_shot_runs(root, tmp_path / "runs", runs=2, ways=5, seed=0)
    torch.manual_seed(0)
    encoder = EncoderConfig("resnet", (1, 16, 16), 8, {"widths": [4, 8]})
    network = SiameseNetwork.from_config(SiameseConfig(encoder, ComparisonConfig("euclidean")))
    save_bundle(tmp_path / "model", network, PreprocessingConfig(image_size=(16, 16)))
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(tmp_path / "model"), "--runs", str(tmp_path / "runs"),
         "--threads", "1", "--json-out", str(tmp_path / "result.json")],
        capture_output=True, text=True, timeout=120, cwd=BENCHMARKS.parent,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["n_items"] == 10 and result["n_runs"] == 2
    assert set(result["accuracy"]) == {"global", "support_centred", "local_descriptors"}
    # Every drawer drew the same image: the identical copy is the most similar by any of the comparisons.
    assert all(value == 1.0 for value in result["accuracy"].values())
