"""Evaluating and calibrating a model bundle on a labelled folder: what `siamkit evaluate` and
`siamkit calibrate` run."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamkit.bundle import update_bundle_decision
from siamkit.data.image_folder import ImageDataset, load_image_folder
from siamkit.evaluation.calibration import calibrate_threshold, fit_score_calibration, overlapping_items
from siamkit.evaluation.embedding_evaluation import evaluate_embeddings
from siamkit.evaluation.episodes import EpisodeConfig
from siamkit.evaluation.pairs import save_pair_list
from siamkit.evaluation.plots import plot_det, plot_roc, plot_score_histograms
from siamkit.evaluation.verification import verification_metrics
from siamkit.model import SiameseModel, embed_prepared

logger = logging.getLogger(__name__)


def embed_folder(model: SiameseModel, data: str | Path) -> tuple[ImageDataset, torch.Tensor]:
    """Loads a labelled image folder with the model's preprocessing and embeds every image."""
    dataset = load_image_folder(data, model.preprocessing)
    return dataset, embed_prepared(model.network, dataset.images, model.preprocessing, model.device)


def evaluate_folder(
    model: SiameseModel,
    data: str | Path,
    pairs_out: Path | None = None,
    plots_dir: Path | None = None,
    ways: int = 5,
    shots: int = 1,
    episodes: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Verification metrics at the model's threshold, one-shot accuracy, and optionally pairs and plots.

    Returns:
        A JSON-friendly dict: `auc`, `eer`, `threshold` (in score units), `far`, `frr`, `accuracy`,
        `tar_at_far`, `n_same`, `n_different`, `one_shot` and the paths written.
    """
    dataset, embeddings = embed_folder(model, data)
    classes = int(dataset.labels.unique().numel())
    episode_config = None
    if ways >= 2 and classes >= ways:
        episode_config = EpisodeConfig(ways=ways, shots=shots, episodes=episodes, seed=seed)
    evaluation = evaluate_embeddings(
        embeddings, dataset.labels, model.network.comparison, pair_seed=seed, episodes=episode_config
    )
    threshold_similarity = None
    if model.threshold is not None:
        threshold_similarity = float(model.similarity_from_score(np.array([model.threshold]))[0])
    metrics = verification_metrics(evaluation.similarities, evaluation.pair_labels, threshold_similarity)
    report: dict[str, Any] = metrics.to_dict()
    report["threshold"] = float(model.similarity_from_score(np.array([metrics.threshold]))[0])
    report["threshold_source"] = "bundle" if threshold_similarity is not None else "eer"
    report["one_shot"] = evaluation.one_shot.to_dict() if evaluation.one_shot is not None else None
    if pairs_out is not None:
        save_pair_list(
            pairs_out,
            [dataset.paths[index] for index in evaluation.first],
            [dataset.paths[index] for index in evaluation.second],
            evaluation.pair_labels,
        )
        report["pairs_file"] = str(pairs_out)
    if plots_dir is not None:
        report["plots"] = [
            str(plot_roc(metrics, plots_dir / "roc.png")),
            str(plot_det(metrics, plots_dir / "det.png")),
            str(plot_score_histograms(evaluation.similarities, evaluation.pair_labels, plots_dir / "scores.png",
                                      threshold=metrics.threshold)),
        ]  # fmt: skip
    return report


def image_fingerprints(dataset: ImageDataset) -> list[str]:
    """A content hash of every decoded image, to detect the same image in two data sets."""
    return [hashlib.sha1(image.numpy().tobytes()).hexdigest() for image in dataset.images]


def calibrate_bundle(
    model_path: str | Path,
    data: str | Path,
    target_far: float | None = None,
    method: str = "platt",
    evaluation_data: str | Path | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Chooses a threshold (at `target_far`, or at the EER when None) on calibration data and stores it,
    with a score-to-probability map, in the bundle.

    Returns:
        The threshold (score units), the FAR/FRR reached on the calibration pairs, pair counts, and warnings
        (e.g. when calibration and evaluation data share images).
    """
    model = SiameseModel.load(model_path)
    dataset, embeddings = embed_folder(model, data)
    evaluation = evaluate_embeddings(embeddings, dataset.labels, model.network.comparison, pair_seed=seed)
    result = calibrate_threshold(
        evaluation.similarities, evaluation.pair_labels, target_far=target_far, use_eer=target_far is None
    )
    calibration = fit_score_calibration(evaluation.similarities, evaluation.pair_labels, method=method)
    threshold = float(model.similarity_from_score(np.array([result.threshold_similarity]))[0])
    warnings = []
    if evaluation_data is not None:
        evaluation_set = load_image_folder(evaluation_data, model.preprocessing)
        shared = overlapping_items(image_fingerprints(dataset), image_fingerprints(evaluation_set))
        if shared:
            warnings.append(
                f"{len(shared)} images appear in both the calibration data ({data}) and the evaluation data "
                f"({evaluation_data}); the evaluation will be optimistic"
            )
            logger.warning(warnings[-1])
    update_bundle_decision(model_path, threshold, calibration.to_dict())
    return {
        "threshold": threshold,
        "achieved_far": result.achieved_far,
        "achieved_frr": result.achieved_frr,
        "method": result.method,
        "calibration": method,
        "n_same": int((evaluation.pair_labels == 1).sum()),
        "n_different": int((evaluation.pair_labels == 0).sum()),
        "warnings": warnings,
    }
