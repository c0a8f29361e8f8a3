"""Losses: contrastive, triplet, binary cross-entropy on pair scores, and distance regression."""

from siamkit.losses.base import LOSSES, LossInput, SiameseLoss, create_loss
from siamkit.losses.binary_cross_entropy import BinaryCrossEntropyLoss
from siamkit.losses.contrastive import ContrastiveLoss
from siamkit.losses.distance_regression import DistanceRegressionLoss
from siamkit.losses.triplet import TripletLoss

__all__ = [
    "LOSSES",
    "BinaryCrossEntropyLoss",
    "ContrastiveLoss",
    "DistanceRegressionLoss",
    "LossInput",
    "SiameseLoss",
    "TripletLoss",
    "create_loss",
]
