"""The writer-independent pair protocol of offline signature verification (SigNet, Dey et al. 2017).

For every writer, each pair of two genuine signatures is a "same" pair and each pairing of a genuine
signature with a skilled forgery of it is a "different" pair. With CEDAR's 24 genuine signatures and 24
forgeries per writer that is C(24, 2) = 276 same and 24 x 24 = 576 different pairs per writer. Unlike the
generic protocol in `pairs.py`, forgeries are never compared with other writers' signatures: the task is
telling a writer's own signature from a skilled imitation of it.

Whether an image is genuine or a forgery is read from its file name, as CEDAR names them:
`original_<W>_<N>.png` (genuine) and `forgeries_<W>_<N>.png` (forgery of writer W's signature).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from siamkit.errors import DataError

logger = logging.getLogger(__name__)

GENUINE_PREFIX = "original_"
FORGERY_PREFIX = "forgeries_"


def is_genuine_signature(path: str) -> bool:
    """True for a genuine signature, False for a forgery, judged by the file name's prefix (any case).

    Raises:
        DataError: When the file name starts with neither `original_` nor `forgeries_`.
    """
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name.startswith(GENUINE_PREFIX):
        return True
    if name.startswith(FORGERY_PREFIX):
        return False
    raise DataError(
        f"{path}: cannot tell a genuine signature from a forgery: the file name must start with "
        f"'{GENUINE_PREFIX}' or '{FORGERY_PREFIX}'"
    )


def genuine_mask(paths: Sequence[str], protocol: str) -> np.ndarray:
    """Which images are their class's own: every one under `classes`, the genuine signatures under
    `signatures` (a forgery sits in its writer's folder but is not the writer's)."""
    if protocol == "signatures":
        return np.array([is_genuine_signature(str(path)) for path in paths], dtype=bool)
    return np.ones(len(paths), dtype=bool)


def signature_pairs(
    paths: Sequence[str], labels: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Genuine-genuine ("same") and genuine-forgery ("different") pairs within each writer.

    Args:
        paths: Each image's path; its file name says genuine (`original_...`) or forgery (`forgeries_...`).
        labels: `(N,)` writer of each image (a forgery carries the label of the writer it imitates, as
            `load_image_folder` gives for CEDAR's `cedar/<W>/` folders).

    Returns:
        `(first, second, pair_labels)`: int64 indices into `paths` and 1 (same) / 0 (different) labels.
        All same pairs come first, then all different pairs. Within each block writers follow in sorted
        label order; same pairs are `(i, j)` with `i < j` among a writer's genuine images, different pairs
        are `(genuine, forgery)`, each sorted by first then second index. The order depends only on the
        input, so repeated runs score exactly the same pairs.

    Raises:
        DataError: When `paths` and `labels` differ in length, a file name is neither genuine nor forgery,
            or the result would lack same or different pairs.
    """
    writers = np.asarray(labels)
    if writers.ndim != 1:
        raise DataError(f"labels must be a 1-D array, got shape {writers.shape}")
    if writers.shape[0] != len(paths):
        raise DataError(f"paths and labels differ in length: {len(paths)} vs {writers.shape[0]}")
    genuine = np.array([is_genuine_signature(str(path)) for path in paths], dtype=bool)

    same_first: list[np.ndarray] = []
    same_second: list[np.ndarray] = []
    different_first: list[np.ndarray] = []
    different_second: list[np.ndarray] = []
    for writer in np.unique(writers):
        members = writers == writer
        genuine_indices = np.flatnonzero(members & genuine)
        forgery_indices = np.flatnonzero(members & ~genuine)
        if genuine_indices.shape[0] < 2 or forgery_indices.shape[0] == 0:
            logger.warning(
                "writer %s has %d genuine signature(s) and %d forgery(ies); some of its pairs cannot be formed",
                writer,
                genuine_indices.shape[0],
                forgery_indices.shape[0],
            )
        upper_first, upper_second = np.triu_indices(genuine_indices.shape[0], k=1)
        same_first.append(genuine_indices[upper_first])
        same_second.append(genuine_indices[upper_second])
        # Genuine-major order: every forgery against the first genuine signature, then the second, ...
        different_first.append(np.repeat(genuine_indices, forgery_indices.shape[0]))
        different_second.append(np.tile(forgery_indices, genuine_indices.shape[0]))

    n_same = sum(block.shape[0] for block in same_first)
    n_different = sum(block.shape[0] for block in different_first)
    if n_same == 0:
        raise DataError("signature protocol needs a writer with at least two genuine signatures (original_*)")
    if n_different == 0:
        raise DataError("signature protocol needs a writer with genuine signatures and forgeries (forgeries_*)")
    first = np.concatenate(same_first + different_first).astype(np.int64)
    second = np.concatenate(same_second + different_second).astype(np.int64)
    pair_labels = np.concatenate([np.ones(n_same, dtype=np.int64), np.zeros(n_different, dtype=np.int64)])
    logger.debug("signature protocol: %d same and %d different pairs", n_same, n_different)
    return first, second, pair_labels
