"""Small synthetic data sets that train in seconds."""

from __future__ import annotations

import pytest
import torch

from siamkit.comparisons import ComparisonConfig
from siamkit.data.image_folder import ImageDataset
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.training.config import TrainConfig


def pattern_dataset(classes: int = 6, per_class: int = 10, size: int = 16, seed: int = 0) -> ImageDataset:
    """Each class is a random blocky prototype; its images are noisy copies of it."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(classes, 1, size // 4, size // 4, generator=generator)
    prototypes = torch.nn.functional.interpolate(prototypes, size=(size, size), mode="nearest")
    images, labels = [], []
    for label in range(classes):
        noise = 0.25 * torch.randn(per_class, 1, size, size, generator=generator)
        images.append((prototypes[label] + noise).clamp(0, 1))
        labels += [label] * per_class
    pixels = (torch.cat(images) * 255).round().to(torch.uint8)
    return ImageDataset(
        images=pixels,
        labels=torch.tensor(labels),
        class_names=[f"class{label}" for label in range(classes)],
        paths=[f"synthetic/{label}/{index}.png" for label in range(classes) for index in range(per_class)],
        preprocessing=PreprocessingConfig(image_size=(size, size)),
    )


def small_network(size: int = 16, comparison: str = "euclidean", seed: int = 0) -> SiameseNetwork:
    torch.manual_seed(seed)
    return SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("conv4", (1, size, size), 16, {"width": 8}), ComparisonConfig(comparison))
    )


@pytest.fixture
def quick_config(tmp_path: object) -> TrainConfig:
    return TrainConfig(
        output_dir=tmp_path,  # type: ignore[arg-type]
        epochs=3,
        classes_per_batch=4,
        samples_per_class=4,
        learning_rate=3e-3,
        show_progress=False,
        validation_episodes=20,
        validation_ways=3,
        device="cpu",
        log_every_steps=1,
    )
