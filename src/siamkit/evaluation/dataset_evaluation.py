"""Evaluating and calibrating a model bundle on a labelled folder: what `siamkit evaluate` and
`siamkit calibrate` run."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from siamkit.bundle import threshold_provenance, update_bundle_decision
from siamkit.data.image_folder import ImageDataset, load_image_folder
from siamkit.errors import ConfigError
from siamkit.evaluation.calibration import calibrate_threshold, fit_score_calibration, overlapping_items
from siamkit.evaluation.claims import evaluate_claims
from siamkit.evaluation.embedding_evaluation import pair_similarities
from siamkit.evaluation.embedding_map import EmbeddingMap, map_embeddings
from siamkit.evaluation.episodes import EpisodeConfig, evaluate_episodes
from siamkit.evaluation.identification import (
    IdentificationTrials,
    check_identification_settings,
    evaluate_identification,
    identification_trials,
)
from siamkit.evaluation.pairs import all_same_pairs_and_sampled_different, save_pair_list
from siamkit.evaluation.per_class import per_class_breakdown
from siamkit.evaluation.plots import (
    plot_cmc,
    plot_det,
    plot_embedding_map,
    plot_identification_errors,
    plot_roc,
    plot_score_histograms,
)
from siamkit.evaluation.report import write_html_report
from siamkit.evaluation.retrieval import retrieval_metrics
from siamkit.evaluation.signature_protocol import genuine_mask, signature_pairs
from siamkit.evaluation.verification import verification_metrics
from siamkit.model import SiameseModel

logger = logging.getLogger(__name__)


def embed_folder(model: SiameseModel, data: str | Path) -> tuple[ImageDataset, torch.Tensor]:
    """Loads a labelled image folder with the model's preprocessing and embeds every image."""
    dataset = load_image_folder(data, model.preprocessing)
    return dataset, model.embed(dataset.images)  # through ONNX Runtime too, after `model.use_onnx_export`


PROTOCOLS = ("classes", "signatures")


def protocol_pairs(dataset: ImageDataset, protocol: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs a protocol evaluates: `classes` (all same-class pairs against a seeded sample of different
    pairs) or `signatures` (per writer, genuine-genuine against genuine-forgery, as SigNet)."""
    if protocol == "signatures":
        return signature_pairs(dataset.paths, dataset.labels.numpy())
    if protocol == "classes":
        return all_same_pairs_and_sampled_different(dataset.labels.numpy(), seed=seed)
    raise ConfigError(f"--protocol must be one of {PROTOCOLS}, got {protocol!r}")


def thumbnail_loader(dataset: ImageDataset) -> Callable[[str], Image.Image]:
    """Thumbnails from the already-decoded images: the report shows each image as the model saw it."""
    position = {path: index for index, path in enumerate(dataset.paths)}

    def load(path: str) -> Image.Image:
        pixels = dataset.images[position[path]].numpy()
        return Image.fromarray(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0))

    return load


def evaluate_folder(
    model: SiameseModel,
    data: str | Path,
    protocol: str = "classes",
    pairs_out: Path | None = None,
    plots_dir: Path | None = None,
    report_dir: Path | None = None,
    ways: int = 5,
    shots: int = 1,
    episodes: int = 1000,
    seed: int = 0,
    claim_references: Sequence[int] = (),
    identification_references: int | None = None,
    stranger_share: float = 0.5,
) -> dict[str, Any]:
    """Verification metrics at the model's threshold, one-shot accuracy, and optionally pairs, plots, an
    HTML report, claims against K enrolled references (`claim_references`, see `evaluation.claims`) and
    identification against a simulated gallery of `identification_references` references per identity with
    `stranger_share` of the identities never enrolled (see `evaluation.identification`).

    Returns:
        A JSON-friendly dict: `auc`, `eer`, `threshold` (in score units), `far`, `frr`, `accuracy`,
        `tar_at_far`, `n_same`, `n_different`, `one_shot`, `per_class` (each class's FAR, FRR and EER at
        the same threshold, worst first; see `per_class_breakdown`), `claims` (one row per reference count
        and claim scoring; empty unless asked for), `identification` (None unless asked for: ranks, open-set
        errors and leave-one-out retrieval metrics) and the paths written.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if identification_references is not None:
        check_identification_settings(identification_references, stranger_share)  # before embedding anything
    dataset, embeddings = embed_folder(model, data)
    first, second, pair_labels = protocol_pairs(dataset, protocol, seed)
    comparison = model.network.comparison
    similarities, _ = pair_similarities(embeddings, first, second, comparison)
    one_shot = None
    classes = int(dataset.labels.unique().numel())
    if protocol == "classes" and ways >= 2 and classes >= ways:
        config = EpisodeConfig(ways=ways, shots=shots, episodes=episodes, seed=seed)
        one_shot = evaluate_episodes(embeddings, dataset.labels, comparison, config)
    threshold_similarity = None
    if model.threshold is not None:
        threshold_similarity = float(model.similarity_from_score(np.array([model.threshold]))[0])
    metrics = verification_metrics(similarities, pair_labels, threshold_similarity)
    report: dict[str, Any] = metrics.to_dict()
    report["threshold"] = float(model.similarity_from_score(np.array([metrics.threshold]))[0])
    report["threshold_source"] = "bundle" if threshold_similarity is not None else "eer"
    report["protocol"] = protocol
    report["one_shot"] = one_shot.to_dict() if one_shot is not None else None
    class_labels = dataset.labels.numpy()
    breakdown = per_class_breakdown(
        similarities, pair_labels, class_labels[first], class_labels[second], dataset.class_names, metrics.threshold
    )
    report["per_class"] = [entry.to_dict() for entry in breakdown]
    report["claims"] = evaluate_claims(
        model, embeddings, class_labels, dataset.paths, protocol, claim_references, seed=seed
    )
    report["identification"] = None
    trials = None
    if identification_references is not None:
        trials = identification_trials(
            model, embeddings, class_labels, dataset.paths, protocol, identification_references, stranger_share,
            seed=seed,
        )  # fmt: skip
        report["identification"] = evaluate_identification(model, trials)
        genuine = np.flatnonzero(genuine_mask(dataset.paths, protocol))
        report["identification"]["retrieval"] = retrieval_metrics(
            model, embeddings[torch.as_tensor(genuine)], class_labels[genuine]
        )
    first_paths = [dataset.paths[index] for index in first]
    second_paths = [dataset.paths[index] for index in second]
    # t-SNE takes seconds: made once, and only when a plot folder or a report asks for it.
    worst_classes = [entry.name for entry in breakdown]
    mapping = functools.cache(lambda: _map_of_worst_classes(dataset, embeddings, protocol, worst_classes, seed))
    if pairs_out is not None:
        save_pair_list(pairs_out, first_paths, second_paths, pair_labels)
        report["pairs_file"] = str(pairs_out)
    if plots_dir is not None:
        report["plots"] = [
            str(plot_roc(metrics, plots_dir / "roc.png")),
            str(plot_det(metrics, plots_dir / "det.png")),
            str(
                plot_score_histograms(similarities, pair_labels, plots_dir / "scores.png", threshold=metrics.threshold)
            ),
        ]
        report["plots"].append(str(_plot_map(mapping(), dataset, protocol, plots_dir)))
        if trials is not None:
            report["plots"] += identification_plots(trials, report["identification"], plots_dir)
    if report_dir is not None:
        shown: list[str] = []
        report_dir.mkdir(parents=True, exist_ok=True)
        map_plot = _plot_map(mapping(), dataset, protocol, report_dir).name
        if trials is not None:
            shown = [Path(path).name for path in identification_plots(trials, report["identification"], report_dir)]
        page = write_html_report(
            report_dir, similarities, pair_labels, first_paths, second_paths, thumbnail_loader(dataset),
            threshold_similarity=metrics.threshold, title=f"{Path(str(data)).name}: {protocol} protocol", seed=seed,
            per_class=breakdown, claims=report["claims"], identification=report["identification"],
            identification_plots=shown, embedding_map_plot=map_plot,
        )  # fmt: skip
        report["report"] = str(page)
    return report


def _map_of_worst_classes(
    dataset: ImageDataset, embeddings: torch.Tensor, protocol: str, worst_first: Sequence[str], seed: int
) -> EmbeddingMap:
    """An embedding map of the classes with the most errors (forgeries marked under `signatures`)."""
    index_of = {name: index for index, name in enumerate(dataset.class_names)}
    marked = ~genuine_mask(dataset.paths, protocol)
    preferred = [index_of[name] for name in worst_first if name in index_of]
    return map_embeddings(embeddings.numpy(), dataset.labels.numpy(), marked, preferred_classes=preferred, seed=seed)


def _plot_map(mapping: EmbeddingMap, dataset: ImageDataset, protocol: str, folder: Path) -> Path:
    marked_name = "forgery" if protocol == "signatures" else "marked"
    return plot_embedding_map(mapping, dataset.class_names, folder / "embeddings.png", marked_name=marked_name)


def identification_plots(trials: IdentificationTrials, result: dict[str, Any], folder: Path) -> list[str]:
    """Writes the CMC curve and the open-set error curve (when there are non-mated probes) into `folder`."""
    written = [str(plot_cmc(result["cmc"], folder / "cmc.png", trials.references))]
    if trials.non_mated_scores.size:
        fpir, fnir = trials.error_curve()
        written.append(str(plot_identification_errors(fpir, fnir, folder / "identification_errors.png")))
    return written


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
    protocol: str = "classes",
) -> dict[str, Any]:
    """Chooses a threshold (at `target_far`, or at the EER when None) on calibration data and stores it,
    with a score-to-probability map, in the bundle.

    The calibration pairs follow `protocol`, as in `evaluate_folder`: `signatures` makes genuine-forgery pairs
    the "different" ones (under `classes` a writer's forgeries would count as "same").

    Returns:
        The threshold (score units), the FAR/FRR reached on the calibration pairs, pair counts, and warnings
        (e.g. when calibration and evaluation data share images).
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--protocol must be one of {PROTOCOLS}, got {protocol!r}")
    model = SiameseModel.load(model_path)
    dataset, embeddings = embed_folder(model, data)
    first, second, pair_labels = protocol_pairs(dataset, protocol, seed)
    similarities, _ = pair_similarities(embeddings, first, second, model.network.comparison)
    result = calibrate_threshold(similarities, pair_labels, target_far=target_far, use_eer=target_far is None)
    calibration = fit_score_calibration(similarities, pair_labels, method=method)
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
    provenance = threshold_provenance(
        "siamkit calibrate", method=result.method, target_far=target_far, far=result.achieved_far,
        frr=result.achieved_frr, data=str(data), protocol=protocol, n_same=int((pair_labels == 1).sum()),
        n_different=int((pair_labels == 0).sum()), probability_map=method, warnings=warnings,
    )  # fmt: skip
    update_bundle_decision(model_path, threshold, calibration.to_dict(), provenance)
    return {
        "threshold": threshold,
        "achieved_far": result.achieved_far,
        "achieved_frr": result.achieved_frr,
        "method": result.method,
        "calibration": method,
        "n_same": int((pair_labels == 1).sum()),
        "n_different": int((pair_labels == 0).sum()),
        "protocol": protocol,
        "warnings": warnings,
    }
