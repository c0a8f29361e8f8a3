"""`siamkit demo`: the whole workflow on scikit-learn's bundled handwritten digits, with no download.

Trains on digits 0-6, holds out a few images of each of them to calibrate the decision threshold, then
measures verification and 3-way one-shot recognition on digits 7, 8 and 9, which training never saw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamkit.comparisons import ComparisonConfig, EuclideanDistance
from siamkit.data.augmentation import AugmentationConfig
from siamkit.data.class_expansion import expand_classes
from siamkit.data.digits import load_digits_dataset
from siamkit.data.image_folder import ImageDataset
from siamkit.encoders import EncoderConfig
from siamkit.evaluation.embedding_evaluation import evaluate_embeddings
from siamkit.evaluation.episodes import EpisodeConfig
from siamkit.evaluation.plots import plot_det, plot_roc, plot_score_histograms
from siamkit.evaluation.verification import verification_metrics
from siamkit.model import embed_prepared
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.training.config import TrainConfig
from siamkit.training.trainer import train

logger = logging.getLogger(__name__)

SEEN_DIGITS = ["0", "1", "2", "3", "4", "5", "6"]
UNSEEN_DIGITS = ["7", "8", "9"]
NEW_CLASS_TRANSFORMS = ("identity", "flip", "rotate90", "rotate270", "flip_rotate90", "flip_rotate270")


@dataclass
class DemoConfig:
    """Settings of the demo run."""

    output_dir: Path = Path("siamkit-demo")
    epochs: int = 3
    seed: int = 0
    image_size: int = 28
    embedding_dim: int = 128
    calibration_share: float = 0.15
    episodes: int = 2000
    show_progress: bool = True


@dataclass
class DemoReport:
    """The demo's results on the unseen digits."""

    eer: float
    auc: float
    accuracy_at_threshold: float
    far: float
    frr: float
    threshold: float
    one_shot_accuracy: float
    one_shot_interval: float
    ways: int
    n_same: int
    n_different: int
    pixel_baseline_auc: float
    pixel_baseline_one_shot_accuracy: float
    train_seconds: float
    train_images_per_second: float
    bundle_path: str
    plots: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def rows(self) -> list[tuple[str, str, str]]:
        """(measure, value, chance level) rows for a table."""
        return [
            ("verification EER (unseen digits)", f"{self.eer:.3f}", "0.500"),
            ("verification ROC AUC", f"{self.auc:.3f}", "0.500"),
            ("accuracy at calibrated threshold", f"{self.accuracy_at_threshold:.3f}", "0.500"),
            ("  false accept rate", f"{self.far:.3f}", ""),
            ("  false reject rate", f"{self.frr:.3f}", ""),
            (f"{self.ways}-way one-shot accuracy", f"{self.one_shot_accuracy:.3f} ± {self.one_shot_interval:.3f}",
             f"{1 / self.ways:.3f}"),
            ("baseline: raw-pixel distance AUC", f"{self.pixel_baseline_auc:.3f}", ""),
            (f"baseline: raw-pixel {self.ways}-way one-shot", f"{self.pixel_baseline_one_shot_accuracy:.3f}", ""),
            ("pairs evaluated (same / different)", f"{self.n_same} / {self.n_different}", ""),
            ("training time", f"{self.train_seconds:.1f} s ({self.train_images_per_second:,.0f} img/s)", ""),
        ]  # fmt: skip


def split_images_per_class(dataset: ImageDataset, share: float, seed: int) -> tuple[ImageDataset, ImageDataset]:
    """Holds out `share` of each class's images (same classes, different images)."""
    generator = torch.Generator().manual_seed(seed)
    kept, held = [], []
    for label in range(dataset.num_classes):
        indices = torch.nonzero(dataset.labels == label).flatten()
        indices = indices[torch.randperm(indices.numel(), generator=generator)]
        count = max(2, round(share * indices.numel()))
        held.append(indices[:count])
        kept.append(indices[count:])
    return dataset.subset(torch.cat(kept)), dataset.subset(torch.cat(held))


def run_demo(config: DemoConfig) -> DemoReport:
    """Trains, calibrates on seen digits, evaluates on unseen digits, writes the bundle and plots."""
    digits = load_digits_dataset((config.image_size, config.image_size))
    seen = digits.select_classes(SEEN_DIGITS)
    unseen = digits.select_classes(UNSEEN_DIGITS)
    train_images, calibration_images = split_images_per_class(seen, config.calibration_share, config.seed)
    # Seven classes are too few to learn shapes in general; reflected and quarter-turned digits become new
    # classes (no half turns: a "6" turned by 180 degrees is the unseen "9").
    train_images = expand_classes(train_images, NEW_CLASS_TRANSFORMS)

    torch.manual_seed(config.seed)
    network = SiameseNetwork.from_config(
        SiameseConfig(
            encoder=EncoderConfig("conv4", digits.preprocessing.input_shape, config.embedding_dim, {"width": 64}),
            comparison=ComparisonConfig("euclidean"),
            normalize_embeddings=True,
        )
    )
    training = TrainConfig(
        output_dir=config.output_dir,
        epochs=config.epochs,
        classes_per_batch=16,
        samples_per_class=8,
        loss="contrastive",
        loss_options={"margin": 0.5},
        mining="all",
        learning_rate=3e-3,
        warmup_steps=20,
        seed=config.seed,
        augmentation=AugmentationConfig(enabled=True, rotation_degrees=10.0, shear=0.2),
        early_stopping_metric="eer",
        early_stopping_patience=None,
        validation_every_epochs=1,
        validation_ways=3,
        device="cpu",
        show_progress=config.show_progress,
    )
    result = train(
        network, train_images, training, validation_data=calibration_images,
        metadata={"data": "scikit-learn digits", "seen_digits": SEEN_DIGITS, "unseen_digits": UNSEEN_DIGITS},
    )  # fmt: skip
    model = result.model
    embeddings = embed_prepared(model.network, unseen.images, model.preprocessing, model.device)
    ways = len(UNSEEN_DIGITS)
    evaluation = evaluate_embeddings(
        embeddings, unseen.labels, model.network.comparison, pair_seed=config.seed,
        episodes=EpisodeConfig(ways=ways, shots=1, episodes=config.episodes, seed=config.seed),
    )  # fmt: skip
    # The same protocol on raw pixels: what the learned embedding has to beat to be worth having.
    pixels = evaluate_embeddings(
        unseen.images.flatten(1).float() / 255.0, unseen.labels, EuclideanDistance(), pair_seed=config.seed,
        episodes=EpisodeConfig(ways=ways, shots=1, episodes=config.episodes, seed=config.seed),
    )  # fmt: skip
    assert model.threshold is not None and evaluation.one_shot is not None and pixels.one_shot is not None
    threshold_similarity = float(model.similarity_from_score(np.array([model.threshold]))[0])
    metrics = verification_metrics(evaluation.similarities, evaluation.pair_labels, threshold_similarity)
    plots_dir = config.output_dir / "plots"
    plots = [
        plot_roc(metrics, plots_dir / "roc.png"),
        plot_det(metrics, plots_dir / "det.png"),
        plot_score_histograms(evaluation.similarities, evaluation.pair_labels, plots_dir / "scores.png",
                              threshold=threshold_similarity),
        plots_dir / "training_curves.png",
    ]  # fmt: skip
    return DemoReport(
        eer=metrics.eer,
        auc=metrics.auc,
        accuracy_at_threshold=metrics.accuracy,
        far=metrics.far,
        frr=metrics.frr,
        threshold=float(model.threshold),
        one_shot_accuracy=evaluation.one_shot.accuracy,
        one_shot_interval=evaluation.one_shot.confidence_interval_95,
        ways=ways,
        n_same=metrics.n_same,
        n_different=metrics.n_different,
        pixel_baseline_auc=pixels.metrics.auc,
        pixel_baseline_one_shot_accuracy=pixels.one_shot.accuracy,
        train_seconds=result.seconds,
        train_images_per_second=result.images_per_second,
        bundle_path=str(result.bundle_path),
        plots=[str(path) for path in plots],
    )
