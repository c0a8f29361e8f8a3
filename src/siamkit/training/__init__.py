"""Training: the loop, its configuration, checkpoints and multi-process support."""

from siamkit.training.config import TrainConfig
from siamkit.training.trainer import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
