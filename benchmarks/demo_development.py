"""How the demo's settings were chosen: variants trained on digits 0-4, validated on the unseen digits 5, 6, 7.

The demo itself is tested on 7, 8 and 9; choosing its settings on those would flatter it, so the choice is
made here on a development split. Prints a markdown table (ROC AUC and 3-way one-shot accuracy).

    python benchmarks/demo_development.py
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from siamkit.applications.demo import NEW_CLASS_TRANSFORMS
from siamkit.comparisons import ComparisonConfig, EuclideanDistance
from siamkit.data.augmentation import AugmentationConfig
from siamkit.data.class_expansion import expand_classes
from siamkit.data.digits import load_digits_dataset
from siamkit.encoders import EncoderConfig
from siamkit.evaluation.embedding_evaluation import evaluate_embeddings
from siamkit.evaluation.episodes import EpisodeConfig
from siamkit.model import embed_prepared
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.training.config import TrainConfig
from siamkit.training.trainer import train


@dataclass
class Variant:
    name: str
    width: int = 32
    margin: float = 1.0
    loss: str = "contrastive"
    mining: str = "all"
    new_classes: bool = True
    epochs: int = 3


VARIANTS = [
    Variant("conv4 width 32, margin 1.0"),
    Variant("+ triplet loss, semi-hard mining", margin=0.2, loss="triplet", mining="semi_hard"),
    Variant("width 64", width=64),
    Variant("margin 0.5", margin=0.5),
    Variant("width 64 + margin 0.5 (the demo's choice)", width=64, margin=0.5),
    Variant("without new classes (width 32, 5 epochs)", new_classes=False, epochs=5),
]


def run_variant(variant: Variant, train_set: Any, validation: Any, output: Path) -> tuple[float, float]:
    torch.manual_seed(0)
    network = SiameseNetwork.from_config(
        SiameseConfig(
            EncoderConfig("conv4", (1, 28, 28), 128, {"width": variant.width}),
            ComparisonConfig("euclidean"),
            normalize_embeddings=True,
        )
    )
    data = expand_classes(train_set, NEW_CLASS_TRANSFORMS) if variant.new_classes else train_set
    config = TrainConfig(
        output_dir=output, epochs=variant.epochs, classes_per_batch=min(16, data.num_classes), samples_per_class=8,
        loss=variant.loss, loss_options={"margin": variant.margin}, mining=variant.mining, learning_rate=3e-3,
        warmup_steps=10, augmentation=AugmentationConfig(enabled=True, shear=0.2), early_stopping_patience=None,
        show_progress=False, device="cpu",
    )  # fmt: skip
    model = train(network, data, config).model
    embeddings = embed_prepared(model.network, validation.images, model.preprocessing, torch.device("cpu"))
    result = evaluate_embeddings(
        embeddings, validation.labels, model.network.comparison, episodes=EpisodeConfig(ways=3, episodes=500)
    )
    assert result.one_shot is not None
    return result.metrics.auc, result.one_shot.accuracy


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    digits = load_digits_dataset((28, 28))
    train_set = digits.select_classes(["0", "1", "2", "3", "4"])
    validation = digits.select_classes(["5", "6", "7"])
    pixels = evaluate_embeddings(
        validation.images.flatten(1).float() / 255, validation.labels, EuclideanDistance(),
        episodes=EpisodeConfig(ways=3, episodes=500),
    )  # fmt: skip
    assert pixels.one_shot is not None
    print("| train 0-4, validate 5, 6, 7 | ROC AUC | 3-way one-shot |\n| --- | --- | --- |")
    print(f"| raw pixels | {pixels.metrics.auc:.3f} | {pixels.one_shot.accuracy:.3f} |")
    with tempfile.TemporaryDirectory() as folder:
        for index, variant in enumerate(VARIANTS):
            auc, accuracy = run_variant(variant, train_set, validation, Path(folder) / str(index))
            print(f"| {variant.name} | {auc:.3f} | {accuracy:.3f} |", flush=True)


if __name__ == "__main__":
    main()
