"""Losses: contrastive, triplet, binary cross-entropy on pair scores, distance regression, the class-proxy
losses CosFace and ArcFace, the in-batch softmax of supervised contrastive learning, and multi-similarity."""

from siamkit.losses.arcface import ArcFaceLoss
from siamkit.losses.base import LOSSES, LossInput, SiameseLoss, create_loss, takes_class_count
from siamkit.losses.binary_cross_entropy import BinaryCrossEntropyLoss
from siamkit.losses.class_proxies import ClassProxyLoss
from siamkit.losses.contrastive import ContrastiveLoss
from siamkit.losses.cosface import CosFaceLoss
from siamkit.losses.distance_regression import DistanceRegressionLoss
from siamkit.losses.multi_similarity import MultiSimilarityLoss
from siamkit.losses.supervised_contrastive import SupervisedContrastiveLoss
from siamkit.losses.triplet import TripletLoss

__all__ = [
    "LOSSES",
    "ArcFaceLoss",
    "BinaryCrossEntropyLoss",
    "ClassProxyLoss",
    "ContrastiveLoss",
    "CosFaceLoss",
    "DistanceRegressionLoss",
    "LossInput",
    "MultiSimilarityLoss",
    "SiameseLoss",
    "SupervisedContrastiveLoss",
    "TripletLoss",
    "create_loss",
    "takes_class_count",
]
