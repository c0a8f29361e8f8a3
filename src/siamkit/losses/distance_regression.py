"""Distance regression: fit embedding distances to given target distances."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from siamkit.errors import ConfigError
from siamkit.losses.base import LOSSES, SiameseLoss

_PENALTIES = ("absolute", "squared", "huber")


class DistanceRegressionLoss(SiameseLoss):
    """Penalises the gap between the distance of two embeddings and a known target distance.

    Used when the "same or different" label is replaced by how far apart two inputs really are (the
    landmark experiment, metric MDS-like embeddings).

    Args:
        penalty: `absolute` (mean |d - t|), `squared` (mean (d - t)^2) or `huber`.
        relative: Divide each gap by the target (plus a small constant), so short and long distances
            count alike.
    """

    input_kind = "regression"

    def __init__(self, penalty: str = "squared", relative: bool = False) -> None:
        super().__init__()
        if penalty not in _PENALTIES:
            raise ConfigError(f"distance_regression penalty must be one of {_PENALTIES}, got {penalty!r}")
        self.penalty = penalty
        self.relative = relative

    def forward(self, distances: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        targets = targets.to(distances.dtype)
        if self.relative:
            scale = targets.abs() + 1e-6
            distances, targets = distances / scale, targets / scale
        if self.penalty == "absolute":
            return F.l1_loss(distances, targets)
        if self.penalty == "squared":
            return F.mse_loss(distances, targets)
        return F.huber_loss(distances, targets)


@LOSSES.register("distance_regression")
def build_distance_regression(penalty: str = "squared", relative: bool = False) -> SiameseLoss:
    """Distance regression."""
    return DistanceRegressionLoss(penalty, relative)
