"""The loss registry and the input kinds losses consume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from torch import nn

from siamkit.errors import ConfigError
from siamkit.registry import Registry

LossInput = Literal["pairs", "triplets", "regression", "classes", "batch"]

LOSSES: Registry[SiameseLoss] = Registry("loss")

# Losses that learn a proxy per training class: built with the class count and embedding length.
_CLASS_LOSSES: set[str] = set()


class SiameseLoss(nn.Module):
    """Base class of siamkit losses.

    Attributes:
        input_kind: What the loss consumes: `pairs` (scores of pairs with 1 = same / 0 = different labels),
            `triplets` (anchor-positive and anchor-negative distances), `regression` (distances with
            target distances), `classes` (embeddings with class labels, taken as they are: losses with a
            learned proxy per class, and multi-similarity, which compares the embeddings by cosine and picks
            its pairs itself; neither takes siamkit's mining) or `batch` (the similarity of every batch item
            with every other, with class labels: losses that weigh all of a batch's comparisons at once and
            mine nothing).
        needs_logits: True when the loss needs a comparison that outputs logits (a learned head).
        compares_angles: True when the loss shapes only the angles between embeddings (it reads cosines,
            whatever the comparison), so the model must normalise its embeddings or compare by cosine.
    """

    input_kind: LossInput = "pairs"
    needs_logits: bool = False
    compares_angles: bool = False


def register_class_loss(name: str) -> Callable[[Callable[..., SiameseLoss]], Callable[..., SiameseLoss]]:
    """Registers a loss with one learned proxy per class; its factory takes `num_classes` and `embedding_dim`."""
    _CLASS_LOSSES.add(name)
    return LOSSES.register(name)


def takes_class_count(name: str) -> bool:
    """Whether the loss registered as `name` learns one proxy per training class."""
    return name in _CLASS_LOSSES


def create_loss(
    name: str, *, num_classes: int | None = None, embedding_dim: int | None = None, **options: Any
) -> SiameseLoss:
    """Builds the loss registered as `name` (`contrastive`, `triplet`, `binary_cross_entropy`,
    `distance_regression`, `cosface`, `arcface`, `supervised_contrastive`, `multi_similarity`).

    `num_classes` and `embedding_dim` size the proxies of the class losses (`cosface`, `arcface`); the trainer
    passes them from the training data and network, and other losses ignore them.

    Raises:
        ConfigError: Unknown name, bad options, or a class loss without `num_classes` and `embedding_dim`.
    """
    if not takes_class_count(name):
        return LOSSES.create(name, **options)
    if num_classes is None or embedding_dim is None:
        raise ConfigError(f"loss {name!r} learns a proxy per class and needs num_classes and embedding_dim")
    return LOSSES.create(name, num_classes=num_classes, embedding_dim=embedding_dim, **options)
