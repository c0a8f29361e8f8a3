"""A two-dimensional map of embeddings, to see which classes the network keeps apart and which it mixes.

Each image's embedding is placed in the plane by t-SNE (van der Maaten and Hinton 2008), which keeps
neighbours next to each other: a class whose images gather in one island is one the model recognises, islands
that touch are classes it confuses, and a forgery sitting inside its writer's island is one it would accept.
Distances between islands mean little; the map shows neighbourhoods, not the model's scores (those are in the
ROC, DET and histogram plots). With many classes, only `max_classes` of them are drawn (the first ones, or the
ones asked for, such as the worst of a per-class breakdown), so each keeps a colour of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from siamkit.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

# Beyond this many images t-SNE takes tens of seconds on two cores and the picture gains nothing.
MAX_MAP_IMAGES = 1000
# Fewer images than this give t-SNE nothing to arrange; the map falls back to the first two principal axes.
_MIN_TSNE_IMAGES = 6


@dataclass(frozen=True)
class EmbeddingMap:
    """Images placed in the plane.

    Attributes:
        points: `(N, 2)` positions.
        labels: `(N,)` class index of each point (into the caller's class names).
        marked: `(N,)` True for images drawn with the second marker (forgeries, in the signature protocol).
        method: `t-SNE` or `PCA` (when there were too few images for t-SNE).
        classes: The classes drawn, in the order they were chosen (preferred ones first).
    """

    points: np.ndarray
    labels: np.ndarray
    marked: np.ndarray
    method: str
    classes: tuple[int, ...]


def choose_map_classes(labels: np.ndarray, max_classes: int, preferred: Sequence[int] = ()) -> list[int]:
    """The classes to draw, `max_classes` at most: those in `preferred` first (in that order), then the rest by
    index."""
    if max_classes < 1:
        raise ConfigError(f"max_classes must be at least 1, got {max_classes}")
    present = set(np.unique(labels).tolist())
    chosen = [label for label in dict.fromkeys(int(label) for label in preferred) if label in present]
    chosen += sorted(label for label in present if label not in chosen)
    return chosen[:max_classes]


def map_embeddings(
    embeddings: np.ndarray,
    labels: np.ndarray,
    marked: np.ndarray | None = None,
    max_classes: int = 20,
    preferred_classes: Sequence[int] = (),
    seed: int = 0,
) -> EmbeddingMap:
    """Places the images of up to `max_classes` classes in the plane by t-SNE.

    Args:
        embeddings: `(N, D)` embeddings, as the model compares them.
        labels: `(N,)` integer class of each embedding.
        marked: `(N,)` booleans drawn with a second marker (None: none marked).
        max_classes: Most classes drawn.
        preferred_classes: Classes to draw before the others (say, the worst of a per-class breakdown).
        seed: Seed of t-SNE and of the draw that keeps at most `MAX_MAP_IMAGES` images.

    Raises:
        DataError: When the arrays disagree in length or hold non-finite values, or fewer than 2 images remain.
    """
    vectors = np.asarray(embeddings, dtype=np.float64)
    classes = np.asarray(labels).astype(np.int64, copy=False)
    flags = np.zeros(classes.shape[0], dtype=bool) if marked is None else np.asarray(marked, dtype=bool)
    if vectors.ndim != 2 or not vectors.shape[0] == classes.shape[0] == flags.shape[0]:
        raise DataError(
            f"embedding map needs (N, D) embeddings with one label and one mark each: got embeddings of shape "
            f"{vectors.shape}, {classes.shape[0]} labels and {flags.shape[0]} marks"
        )
    if not np.isfinite(vectors).all():
        raise DataError("embedding map: the embeddings hold NaN or infinite values")
    chosen_classes = tuple(choose_map_classes(classes, max_classes, preferred_classes))
    keep = np.flatnonzero(np.isin(classes, chosen_classes))
    if keep.shape[0] > MAX_MAP_IMAGES:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=MAX_MAP_IMAGES, replace=False))
        logger.info("embedding map: drew %d of the chosen classes' images at random", MAX_MAP_IMAGES)
    if keep.shape[0] < 2:
        raise DataError(f"embedding map needs at least 2 images, got {keep.shape[0]}")
    chosen = vectors[keep]
    if chosen.shape[0] < _MIN_TSNE_IMAGES:
        return EmbeddingMap(_principal_plane(chosen), classes[keep], flags[keep], "PCA", chosen_classes)
    from sklearn.manifold import TSNE

    # Perplexity must stay below the number of points; about a class's size suits class islands.
    perplexity = float(min(30.0, (chosen.shape[0] - 1) / 3.0))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(chosen)
    logger.debug("embedding map of %d images (perplexity %.1f)", chosen.shape[0], perplexity)
    return EmbeddingMap(np.asarray(points), classes[keep], flags[keep], "t-SNE", chosen_classes)


def _principal_plane(vectors: np.ndarray) -> np.ndarray:
    """The vectors' coordinates on their first two principal axes (zeros where there is no second axis)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    points = centred @ axes[:2].T
    if points.shape[1] < 2:
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    return points
