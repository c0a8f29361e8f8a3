"""Validation during training: embed the held-out classes, then verification metrics and one-shot episodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from siamkit.data.image_folder import ImageDataset
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.data.vectors import VectorDataset
from siamkit.errors import DataError
from siamkit.evaluation.embedding_evaluation import evaluate_embeddings
from siamkit.evaluation.episodes import EpisodeConfig
from siamkit.evaluation.verification import VerificationMetrics
from siamkit.model import embed_prepared
from siamkit.network import SiameseNetwork
from siamkit.training.config import TrainConfig


@dataclass
class ValidationResult:
    """Validation numbers of one moment in training."""

    metrics: VerificationMetrics
    one_shot_accuracy: float | None
    ways: int

    def value(self, metric: str) -> float:
        """The value early stopping watches."""
        if metric == "one_shot_accuracy":
            if self.one_shot_accuracy is None:
                raise DataError("validation has too few classes for one-shot episodes; use eer or auc")
            return self.one_shot_accuracy
        return float(getattr(self.metrics, metric))

    def to_dict(self) -> dict[str, Any]:
        return {
            "eer": self.metrics.eer,
            "auc": self.metrics.auc,
            "one_shot_accuracy": self.one_shot_accuracy,
            "ways": self.ways,
        }


def validate(
    network: SiameseNetwork,
    data: ImageDataset | VectorDataset,
    preprocessing: PreprocessingConfig,
    config: TrainConfig,
    device: torch.device,
) -> ValidationResult:
    """Embeds `data` with the current weights and measures verification and one-shot accuracy."""
    inputs = data.vectors if isinstance(data, VectorDataset) else data.images
    embeddings = embed_prepared(network, inputs, preprocessing, device)
    ways = min(config.validation_ways, int(data.labels.unique().numel()))
    episodes = EpisodeConfig(ways=ways, shots=1, episodes=config.validation_episodes, seed=config.seed)
    evaluation = evaluate_embeddings(
        embeddings, data.labels, network.comparison, pair_seed=config.seed, episodes=episodes if ways >= 2 else None
    )
    accuracy = evaluation.one_shot.accuracy if evaluation.one_shot is not None else None
    return ValidationResult(evaluation.metrics, accuracy, ways)
