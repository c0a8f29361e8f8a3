"""signatures_test_time_augmentation.py: plain and view-wrapped models, and their ensemble, on the same pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.evaluation.dataset_evaluation import evaluate_folder
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork

from .conftest import run_benchmark
from .test_signature_ink_cues import draw_writer

PREPROCESSING = PreprocessingConfig(
    image_size=(20, 30), invert=True, crop_to_ink=True, keep_aspect=True, remove_background=True, binarize=True
)


def split_model(path: Path, seed: int, trained: bool = True) -> Path:
    torch.manual_seed(seed)
    encoder = EncoderConfig("conv4", (1, 20, 30), 16, {"width": 4})
    network = SiameseNetwork.from_config(SiameseConfig(encoder, ComparisonConfig("euclidean")))
    model = SiameseModel(network, PREPROCESSING)
    if trained:
        model.metadata = {"training": {"config": {"augmentation": {"enabled": True, "probability": 1.0}}}}
    model.save(path)
    return path


@pytest.fixture
def writers(tmp_path: Path) -> Path:
    generator = np.random.default_rng(0)
    for writer in (1, 2, 3):
        draw_writer(tmp_path / "writers", writer, generator)
    return tmp_path / "writers"


def test_every_variant_and_the_ensemble_are_scored_on_the_evaluation_pairs(writers: Path, tmp_path: Path) -> None:
    models = [split_model(tmp_path / f"seed{seed}", seed) for seed in (0, 1)]
    out, scores = tmp_path / "views.json", tmp_path / "scores.npz"
    completed = run_benchmark(
        "signatures_test_time_augmentation.py", "--model", str(models[0]), "--model", str(models[1]),
        "--test", str(writers), "--views", "3,2", "--scores-out", str(scores), "--json-out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    results = json.loads(out.read_text())
    assert results["n_same"] == 9 and results["n_different"] == 27
    assert [set(row) for row in results["models"]] == [{"model", "plain", "views_2", "views_3"}] * 2
    plain = evaluate_folder(SiameseModel.load(models[0]), writers, protocol="signatures", ways=0)
    assert results["models"][0]["plain"]["eer"] == pytest.approx(plain["eer"])
    assert set(results["ensemble"]) == {"plain", "views_2", "views_3"}
    with np.load(scores) as saved:
        assert saved["similarities"].shape == saved["labels"].shape == (36,)


def test_a_bundle_without_training_metadata_stops_with_its_name(writers: Path, tmp_path: Path) -> None:
    untrained = split_model(tmp_path / "model", 0, trained=False)
    completed = run_benchmark("signatures_test_time_augmentation.py", "--model", str(untrained), "--test", str(writers))
    assert completed.returncode == 2
    assert (
        completed.stderr.strip()
        .splitlines()[-1]
        .endswith(f"{untrained}: the bundle records no training augmentation to draw views from")
    )
