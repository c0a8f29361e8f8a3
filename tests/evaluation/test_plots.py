"""Each plot writes a readable PNG of sensible size, atomically, and returns its path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamkit.errors import DataError
from siamkit.evaluation.embedding_map import map_embeddings
from siamkit.evaluation.plots import (
    plot_cmc,
    plot_det,
    plot_embedding_map,
    plot_identification_errors,
    plot_roc,
    plot_score_histograms,
    plot_training_curves,
)
from siamkit.evaluation.verification import VerificationMetrics, verification_metrics


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    similarities = np.r_[rng.normal(2.0, 1.0, 400), rng.normal(0.0, 1.0, 600)]
    return similarities, np.r_[np.ones(400, dtype=int), np.zeros(600, dtype=int)]


@pytest.fixture(scope="module")
def metrics(scores: tuple[np.ndarray, np.ndarray]) -> VerificationMetrics:
    return verification_metrics(*scores)


def check_png(path: Path, folder: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert 400 <= width <= 2000 and 300 <= height <= 2000
        # Not a blank canvas: a drawn plot has many distinct colours.
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20
    assert not [entry for entry in folder.iterdir() if entry.name.endswith(".tmp")]


def test_roc_and_det_plots(tmp_path: Path, metrics: VerificationMetrics) -> None:
    roc = plot_roc(metrics, tmp_path / "plots" / "roc.png")
    det = plot_det(metrics, tmp_path / "plots" / "det.png")
    assert roc == tmp_path / "plots" / "roc.png"
    assert det == tmp_path / "plots" / "det.png"
    check_png(roc, tmp_path / "plots")
    check_png(det, tmp_path / "plots")


def test_embedding_map_plot_draws_classes_and_crosses(tmp_path: Path) -> None:
    generator = np.random.default_rng(0)
    labels = np.repeat(np.arange(12), 6)
    embeddings = generator.normal(0.0, 5.0, size=(12, 8))[labels] + generator.normal(0.0, 0.2, size=(72, 8))
    mapping = map_embeddings(embeddings, labels, marked=np.arange(72) % 3 == 0, max_classes=12)
    names = [f"writer {index}" for index in range(12)]
    path = plot_embedding_map(mapping, names, tmp_path / "maps" / "embeddings.png", marked_name="forgery")
    assert path == tmp_path / "maps" / "embeddings.png"
    check_png(path, tmp_path / "maps")


def test_det_plot_handles_perfect_separation(tmp_path: Path) -> None:
    # Error rates of exactly 0 and 1 would be infinite on probit axes; they are clipped to the plot edges.
    perfect = verification_metrics(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0]))
    check_png(plot_det(perfect, tmp_path / "det.png"), tmp_path)


def test_score_histograms_with_and_without_threshold(tmp_path: Path, scores: tuple[np.ndarray, np.ndarray]) -> None:
    check_png(plot_score_histograms(*scores, tmp_path / "scores.png"), tmp_path)
    check_png(plot_score_histograms(*scores, tmp_path / "scores_threshold.png", threshold=1.0), tmp_path)
    with pytest.raises(DataError, match="no same"):
        plot_score_histograms(np.array([0.1, 0.2]), np.array([0, 0]), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def training_records() -> list[dict]:
    records: list[dict] = []
    for step in range(1, 201):
        records.append({"step": step, "epoch": step // 50, "loss": 1.0 / step, "learning_rate": 0.001, "time": 1e9})
        if step % 50 == 0:
            records.append(
                {"step": step, "epoch": step // 50, "validation": {"eer": 0.3 - step / 1000, "auc": 0.8, "ways": 5}}
            )
    return records


def test_training_curves_from_records_and_from_jsonl(tmp_path: Path) -> None:
    records = training_records()
    check_png(plot_training_curves(records, tmp_path / "from_records.png"), tmp_path)
    log = tmp_path / "metrics.jsonl"
    log.write_text("".join(json.dumps(record) + "\n" for record in records) + "\n")
    check_png(plot_training_curves(log, tmp_path / "from_log.png"), tmp_path)


def test_training_curves_with_loss_only_and_with_missing_values(tmp_path: Path) -> None:
    records = [{"step": step, "loss": 2.0 - step / 10} for step in range(10)]
    records.append({"step": 10, "validation": {"eer": 0.2, "one_shot_accuracy": None}})
    check_png(plot_training_curves(records, tmp_path / "short.png"), tmp_path)


def test_training_curves_reject_unplottable_logs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no numeric metrics"):
        plot_training_curves([{"step": 1, "note": "started"}], tmp_path / "empty.png")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"step": 1, "loss": 0.5}\nnot json\n')
    with pytest.raises(DataError, match=r"broken\.jsonl:2"):
        plot_training_curves(broken, tmp_path / "broken.png")
    with pytest.raises(DataError, match=r"missing\.jsonl"):
        plot_training_curves(tmp_path / "missing.jsonl", tmp_path / "missing.png")


@pytest.mark.parametrize("identities", [5, 60])  # a linear rank axis, and a logarithmic one for many
def test_identification_plots(tmp_path: Path, identities: int) -> None:
    cmc = np.minimum(1.0, 0.7 + 0.3 * np.arange(identities) / max(identities - 1, 1)).tolist()
    check_png(plot_cmc(cmc, tmp_path / "cmc.png", references=1), tmp_path)
    fpir = np.linspace(1.0, 0.0, 50)
    check_png(plot_identification_errors(fpir, 1.0 - fpir**0.5, tmp_path / "errors.png"), tmp_path)
    with pytest.raises(DataError, match="at least one rank"):
        plot_cmc([], tmp_path / "none.png", references=1)
