"""claim_verification.py: claims scored at the pair EER threshold, per reference count and scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from siamkit.data.image_folder import load_image_folder
from siamkit.evaluation.claims import calibrate_claims
from siamkit.evaluation.dataset_evaluation import evaluate_folder
from siamkit.model import SiameseModel, embed_prepared

from .conftest import run_benchmark
from .test_signature_ink_cues import draw_writer
from .test_signatures_test_time_augmentation import split_model


def test_claims_are_scored_at_the_pair_threshold_for_each_count_and_scoring(tmp_path: Path) -> None:
    generator = np.random.default_rng(0)
    for writer in (1, 2, 3):
        draw_writer(tmp_path / "writers", writer, generator)
    models = [split_model(tmp_path / f"seed{seed}", seed) for seed in (0, 1)]
    out = tmp_path / "claims.json"
    completed = run_benchmark(
        "claim_verification.py", "--model", str(models[0]), "--model", str(models[1]),
        "--data", str(tmp_path / "writers"), "--references", "1,2", "--draws", "4", "--json-out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    results = json.loads(out.read_text())
    first = results["models"][0]
    pairs = evaluate_folder(SiameseModel.load(models[0]), tmp_path / "writers", protocol="signatures", ways=0)
    assert first["pair_eer"] == pytest.approx(pairs["eer"]) and first["pair_threshold"] == pytest.approx(
        pairs["threshold"]
    )
    assert [(row["references"], row["scoring"]) for row in first["claims"]] == [
        (count, scoring) for count in (1, 2) for scoring in ("mean", "best", "centroid")
    ]
    # 3 writers x 4 draws; 3 genuine signatures each: 2 (or 1) left as claims against 1 (or 2) references
    assert [row["n_genuine"] for row in first["claims"]] == [24] * 3 + [12] * 3
    assert all(row["n_impostor"] == 3 * 4 * 3 for row in first["claims"])
    averaged = results["mean_over_models"][4]
    rows = [model["claims"][4] for model in results["models"]]
    assert averaged["far"] == pytest.approx(np.mean([row["far"] for row in rows]))


def test_claim_thresholds_fitted_on_other_writers_are_applied_to_the_data(tmp_path: Path) -> None:
    generator = np.random.default_rng(1)
    for writer in (1, 2, 3):
        draw_writer(tmp_path / "writers", writer, generator)
    for writer in (4, 5):
        draw_writer(tmp_path / "others", writer, generator)
    model = split_model(tmp_path / "seed0", 0)
    out = tmp_path / "claims.json"
    completed = run_benchmark(
        "claim_verification.py", "--model", str(model), "--data", str(tmp_path / "writers"),
        "--calibrate-on", str(tmp_path / "others"), "--references", "2", "--draws", "3", "--json-out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(out.read_text())["models"][0]["claim_calibrated"]
    assert [row["scoring"] for row in rows] == ["mean", "best", "centroid"]
    loaded = SiameseModel.load(model)
    others = load_image_folder(tmp_path / "others", loaded.preprocessing)
    embeddings = embed_prepared(loaded.network, others.images, loaded.preprocessing, loaded.device)
    expected = calibrate_claims(
        loaded, embeddings, others.labels.numpy(), others.paths, "signatures", 2, "best", None, 3, 1
    )
    assert rows[1]["threshold"] == pytest.approx(expected["threshold"])
    assert all(0.0 <= row["far"] <= 1.0 and 0.0 <= row["frr"] <= 1.0 for row in rows)


def test_open_set_identification_is_scored_before_and_after_calibrating_the_gallery(tmp_path: Path) -> None:
    generator = np.random.default_rng(2)
    for writer in range(1, 7):
        draw_writer(tmp_path / "people", writer, generator)  # 6 classes of 6 images
    model = SiameseModel.load(split_model(tmp_path / "model", 0))
    model.threshold = 1.0
    model.save(tmp_path / "with-threshold")
    out = tmp_path / "open_set.json"
    completed = run_benchmark(
        "identification_open_set.py", "--model", str(tmp_path / "with-threshold"), "--data", str(tmp_path / "people"),
        "--gallery-sizes", "1,3", "--references", "2", "--seeds", "2", "--target-fpir", "0.2",
        "--json-out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(out.read_text())["galleries"]
    # enrolled from the first 3 classes, 2 references each: 4 mated probes per identity; the other 3 classes'
    # 18 images are the strangers, half of them (by class) fit the threshold and the other half test it
    assert [(row["identities"], row["n_mated"], row["n_non_mated"]) for row in rows] == [(1, 4, 18), (3, 12, 18)]
    assert all(row["calibrated_fpir_where_fitted"] <= 0.2 for row in rows)
    assert all(0.0 <= row[key] <= 1.0 for row in rows for key in ("fpir", "fnir", "calibrated_fpir", "calibrated_fnir"))
