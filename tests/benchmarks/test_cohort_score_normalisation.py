"""cohort_score_normalisation.py: S-norm against a hand computation, and a whole run on generated writers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from .conftest import import_benchmark, run_benchmark
from .test_signature_ink_cues import draw_writer
from .test_signatures_test_time_augmentation import split_model


def test_symmetric_normalisation_standardises_by_both_images_cohort_statistics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = import_benchmark(monkeypatch, "cohort_score_normalisation")
    generator = np.random.default_rng(0)
    embeddings = script.unit(torch.tensor(generator.normal(size=(3, 4))))
    cohort = script.unit(torch.tensor(generator.normal(size=(5, 4))))
    first, second = np.array([0, 1]), np.array([1, 2])
    variants = script.normalised_variants(embeddings, cohort, first, second, tops=[0, 2])
    for pair, (a, b) in enumerate(zip(first, second, strict=True)):
        plain = float(embeddings[a] @ embeddings[b])
        to_cohort = {image: embeddings[image] @ cohort.T for image in (a, b)}
        closest = {image: np.sort(values)[-2:] for image, values in to_cohort.items()}
        assert variants["plain"][pair] == pytest.approx(plain)
        assert variants["symmetric_top0"][pair] == pytest.approx(
            0.5 * sum((plain - values.mean()) / values.std() for values in to_cohort.values())
        )
        assert variants["symmetric_top2"][pair] == pytest.approx(
            0.5 * sum((plain - values.mean()) / values.std() for values in closest.values())
        )
        assert variants["centred_top2"][pair] == pytest.approx(plain - 0.5 * sum(v.mean() for v in closest.values()))


def test_the_script_scores_every_variant_on_generated_writers(tmp_path: Path) -> None:
    generator = np.random.default_rng(0)
    for writer in (1, 2, 3):
        draw_writer(tmp_path / "test", writer, generator)
    for writer in (4, 5):
        draw_writer(tmp_path / "cohort", writer, generator)
    model = split_model(tmp_path / "model", 0)
    out = tmp_path / "result.json"
    completed = run_benchmark(
        "cohort_score_normalisation.py", "--model", str(model), "--test", str(tmp_path / "test"),
        "--cohort", str(tmp_path / "cohort"), "--tops", "0,2", "--json-out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    results = json.loads(out.read_text())
    expected = {"plain", "symmetric_top0", "centred_top0", "symmetric_top2", "centred_top2"}
    assert set(results["models"][0]["genuine_cohort"]) == set(results["models"][0]["whole_cohort"]) == expected
    assert results["mean_eer"]["whole_cohort"]["plain"] == results["models"][0]["whole_cohort"]["plain"]
