"""Training configuration: one dataclass, passed explicitly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from siamkit.config_types import check_field_types
from siamkit.data.augmentation import AugmentationConfig
from siamkit.errors import ConfigError

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "step", "constant")
EARLY_STOPPING_METRICS = {"eer": "min", "auc": "max", "one_shot_accuracy": "max", "loss": "min"}


@dataclass
class TrainConfig:
    """Everything the training loop needs besides the network and the data.

    Attributes:
        output_dir: Receives the model bundle, checkpoints, the metrics log and plots.
        epochs: Passes over the training data (an epoch is about one look at every example).
        max_steps: Stop after this many optimiser steps, whatever `epochs` says.
        time_budget_minutes: Stop after this much wall time in the loop (validation included), whatever the
            step counts say; the learning-rate schedule then follows the share of the budget used when that
            is further along than the share of the steps, so a run cut short by the clock still anneals.
            None: no time limit. Single-process runs only (processes would disagree on the time).
        classes_per_batch: P in the P x K class-balanced batches (global, across all processes).
        samples_per_class: K in the P x K batches.
        groups_per_batch: Draw the P classes of a batch from this many groups (image folders nested as
            group/class, e.g. Omniglot alphabets; rotated copies join their original's group), P / G from
            each, so negatives are mostly same-group look-alikes; must divide P. None: classes from anywhere.
        loss: Registered loss name (`contrastive`, `triplet`, `binary_cross_entropy`, or a class-proxy loss,
            `cosface` or `arcface`, which learns one vector per training class and needs `mining` 'all').
        loss_options: Keyword options of the loss (`margin`, `scale`, ...).
        mining: How pairs/triplets are formed from a batch's embeddings (`all`, `hard`, `semi_hard` for
            triplets, `multi_similarity` for pairs).
        optimizer: `adamw` or `sgd`.
        learning_rate: Peak learning rate.
        loss_learning_rate: Peak learning rate of the loss's own parameters (the class proxies of `cosface` and
            `arcface`); None: `learning_rate`. Proxy losses usually want it higher: a class's proxy is pulled
            towards its images only in the few batches that hold that class.
        weight_decay: Decoupled weight decay (AdamW) or L2 (SGD).
        momentum: SGD momentum.
        schedule: `cosine` (to zero), `step` (x0.1 at 60% and 85%) or `constant`, after linear warm-up.
        warmup_steps: Steps of linear warm-up from zero.
        seed: Seeds weights, batches and augmentation; the same seed gives the same run.
        mixed_precision: bfloat16 autocast on GPUs (ignored on CPUs).
        augmentation: Random affine distortions of training images.
        validation_every_epochs: Validate after every this many epochs (when validation data is given).
        early_stopping_metric: `eer`, `auc`, `one_shot_accuracy` or `loss` (validation).
        early_stopping_patience: Stop after this many validations without improvement (None: never).
        validation_ways: N of the N-way one-shot episodes used in validation.
        validation_episodes: Number of such episodes.
        checkpoint_every_steps: Also checkpoint mid-epoch every this many steps (None: only at epoch ends).
        log_every_steps: Write a metrics line every this many steps.
        device: `auto` (GPU when there is one), `cpu`, `cuda`, `cuda:1`, ...
        show_progress: Show rich progress bars.
        channels_last: Use the channels-last memory layout for image batches (faster convolutions on CPUs).
        initial_weights: Start from this model bundle's weights instead of random ones (fine-tuning, or
            pretraining on another data set); its encoder must match the recipe's. None: random weights.
        weight_average_decay: Keep an exponential moving average of the weights (and batch-norm statistics)
            with this decay per step, e.g. 0.998 (an average over roughly the last 1 / (1 - decay) steps), and
            validate and save the averaged network instead of the last step's. None: no average.
    """

    output_dir: Path = Path("runs/siamkit")
    epochs: int = 10
    max_steps: int | None = None
    time_budget_minutes: float | None = None
    classes_per_batch: int = 16
    samples_per_class: int = 4
    groups_per_batch: int | None = None
    loss: str = "contrastive"
    loss_options: dict[str, Any] = field(default_factory=dict)
    mining: str = "all"
    optimizer: Literal["adamw", "sgd"] = "adamw"
    learning_rate: float = 1e-3
    loss_learning_rate: float | None = None
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = 0
    seed: int = 0
    mixed_precision: bool = True
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    validation_every_epochs: int = 1
    early_stopping_metric: str = "eer"
    early_stopping_patience: int | None = 5
    validation_ways: int = 5
    validation_episodes: int = 200
    checkpoint_every_steps: int | None = None
    log_every_steps: int = 10
    device: str = "auto"
    show_progress: bool = True
    channels_last: bool = True
    initial_weights: Path | None = None
    weight_average_decay: float | None = None

    def __post_init__(self) -> None:
        check_field_types(self, "training")
        self.output_dir = Path(self.output_dir)
        if self.initial_weights is not None:
            self.initial_weights = Path(self.initial_weights)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.early_stopping_metric not in EARLY_STOPPING_METRICS:
            raise ConfigError(
                f"early_stopping_metric must be one of {sorted(EARLY_STOPPING_METRICS)}, "
                f"got {self.early_stopping_metric!r}"
            )
        if self.epochs < 1 or self.classes_per_batch < 2 or self.samples_per_class < 1:
            raise ConfigError("epochs must be >= 1, classes_per_batch >= 2 and samples_per_class >= 1")
        if self.groups_per_batch is not None and (
            self.groups_per_batch < 1 or self.classes_per_batch % self.groups_per_batch
        ):
            raise ConfigError(
                f"groups_per_batch must be at least 1 and divide classes_per_batch ({self.classes_per_batch}), "
                f"got {self.groups_per_batch}"
            )
        if self.time_budget_minutes is not None and self.time_budget_minutes <= 0:
            raise ConfigError(f"time_budget_minutes must be positive, got {self.time_budget_minutes}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.loss_learning_rate is not None and self.loss_learning_rate <= 0:
            raise ConfigError(f"loss_learning_rate must be positive, got {self.loss_learning_rate}")
        if self.weight_average_decay is not None and not 0.0 < self.weight_average_decay < 1.0:
            raise ConfigError(
                f"weight_average_decay must be between 0 and 1 (exclusive), got {self.weight_average_decay}"
            )
        if isinstance(self.augmentation, dict):
            self.augmentation = AugmentationConfig.from_dict(self.augmentation)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        data["initial_weights"] = None if self.initial_weights is None else str(self.initial_weights)
        return data
