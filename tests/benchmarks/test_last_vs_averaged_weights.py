"""last_vs_averaged_weights.py scores a run's averaged and last-step weights on the same held-out pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from siamkit.comparisons import ComparisonConfig
from siamkit.data.image_folder import load_image_folder
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.training.config import TrainConfig
from siamkit.training.trainer import train

from .conftest import TinyCharacters, import_benchmark, run_benchmark


def quick_run(characters: TinyCharacters, folder: Path, weight_average_decay: float | None) -> Path:
    """A few steps on one alphabet's characters, saved as a run folder (bundle + final checkpoint)."""
    torch.manual_seed(0)
    network = SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("conv4", (1, 16, 16), 8, {"width": 4}), ComparisonConfig("euclidean"))
    )
    data = load_image_folder(characters.images / "Beta", PreprocessingConfig(image_size=(16, 16)))
    config = TrainConfig(
        output_dir=folder, epochs=3, classes_per_batch=3, samples_per_class=3, show_progress=False,
        device="cpu", weight_average_decay=weight_average_decay,
    )  # fmt: skip
    train(network, data, config)
    return folder


def test_both_weights_are_scored_on_the_same_pairs(
    tiny_characters: TinyCharacters, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = quick_run(tiny_characters, tmp_path / "run", weight_average_decay=0.8)
    out = tmp_path / "result.json"
    completed = run_benchmark(
        "last_vs_averaged_weights.py", "--run", str(run), "--test", str(tiny_characters.images / "Alpha"),
        "--protocol", "classes", "--json-out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    row = json.loads(out.read_text())["runs"][0]
    assert row["weight_average_decay"] == 0.8
    assert row["last_step"]["n_same"] == row["averaged"]["n_same"] == 15  # 5 characters x 3 pairs
    assert 0.0 <= row["last_step"]["eer"] <= 1.0 and 0.0 <= row["averaged"]["eer"] <= 1.0

    completed = run_benchmark(
        "last_vs_averaged_weights.py", "--run", str(run), "--runs", str(tiny_characters.runs), "--json-out", str(out)
    )
    assert completed.returncode == 0, completed.stderr
    one_shot = json.loads(out.read_text())["runs"][0]
    assert one_shot["last_step"]["n_items"] == one_shot["averaged"]["n_items"] == 10  # 2 five-way runs
    assert 0.0 <= one_shot["averaged"]["accuracy"] <= 1.0

    script = import_benchmark(monkeypatch, "last_vs_averaged_weights")
    last = script.last_step_model(run)
    checkpoint = load_file(str(run / "checkpoint" / "state.safetensors"))
    for name, value in last.network.state_dict().items():
        assert torch.equal(value, checkpoint[f"network.{name}"]), name


def test_a_run_without_an_average_stops_with_its_name(tiny_characters: TinyCharacters, tmp_path: Path) -> None:
    run = quick_run(tiny_characters, tmp_path / "plain", weight_average_decay=None)
    completed = run_benchmark(
        "last_vs_averaged_weights.py", "--run", str(run), "--test", str(tiny_characters.images / "Alpha"),
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1] == (
        f"last_vs_averaged_weights.py: error: {run}: the run kept no moving average of its weights "
        "(no training.weight_average_decay)"
    )
