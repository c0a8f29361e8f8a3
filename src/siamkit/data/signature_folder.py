"""Offline signatures laid out as one folder per writer, genuine signatures and skilled forgeries side by side.

CEDAR's layout: `cedar/<W>/original_<W>_<N>.png` (genuine, writer W) and `cedar/<W>/forgeries_<W>_<N>.png`
(someone else imitating writer W). `load_image_folder` would put a writer's forgeries in the writer's class,
which makes them positives; for training they must be the opposite: the hardest negatives of that writer.

`load_signature_folder` therefore labels genuine signatures by writer and gives every forgery a class of its
own. Generic class-based code then never pairs a forgery as "same" with anything, and the signature batch
source (`siamkit.training.signature_batches`) puts each writer's forgeries into the writer's batches and
leaves out forgery-forgery pairs of one writer (two imitations of one signature are neither clearly the same
nor clearly different).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from siamkit.data.image_folder import ImageDataset, load_image_folder
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import DataError
from siamkit.evaluation.signature_protocol import is_genuine_signature

logger = logging.getLogger(__name__)

# A writer needs two genuine signatures to give a positive pair.
_MIN_GENUINE = 2


@dataclass
class SignatureDataset(ImageDataset):
    """Signatures of several writers: genuine ones labelled by writer, every forgery a class of its own.

    Attributes:
        writers: `(N,)` `int64` writer of each image (the writer a forgery imitates), into `writer_names`.
        genuine: `(N,)` `bool`, True for a genuine signature, False for a skilled forgery.
        writer_names: Name of each writer (its folder, e.g. "12").

    `labels[i] == writers[i]` for genuine signatures; forgeries get labels from `len(writer_names)` up, one each,
    with class names "<writer>/<file stem>".
    """

    writers: torch.Tensor
    genuine: torch.Tensor
    writer_names: list[str]

    def __post_init__(self) -> None:
        super().__post_init__()
        count = self.images.shape[0]
        if self.writers.dtype != torch.int64 or self.writers.shape != (count,):
            raise ValueError(f"writers must be int64 ({count},), got {self.writers.dtype} {tuple(self.writers.shape)}")
        if self.genuine.dtype != torch.bool or self.genuine.shape != (count,):
            raise ValueError(f"genuine must be bool ({count},), got {self.genuine.dtype} {tuple(self.genuine.shape)}")

    @property
    def num_writers(self) -> int:
        """Number of writers."""
        return len(self.writer_names)


def signature_labels(writers: torch.Tensor, genuine: torch.Tensor, first_forgery_label: int) -> torch.Tensor:
    """Class labels for signature training: the writer for genuine signatures, a fresh label for each forgery.

    Args:
        writers: `(N,)` writer of each signature.
        genuine: `(N,)` True for genuine signatures.
        first_forgery_label: The first label forgeries get (above every writer label).
    """
    labels = writers.clone()
    forgeries = torch.nonzero(~genuine).flatten()
    labels[forgeries] = first_forgery_label + torch.arange(forgeries.numel(), dtype=labels.dtype)
    return labels


def load_signature_folder(
    path: str | Path,
    preprocessing: PreprocessingConfig,
    *,
    show_progress: bool = False,
    workers: int | None = None,
) -> SignatureDataset:
    """Loads a one-folder-per-writer signature collection (a folder, a zip, or a folder inside a zip).

    File names tell genuine signatures (`original_...`) from forgeries (`forgeries_...`), as in CEDAR; the
    folder an image lies in is its writer (a forgery's folder is the writer it imitates).

    Args:
        path: The collection, e.g. `../shared/data/cedar/cedar_dev.zip`.
        preprocessing: Image preprocessing (for scans: grey, `invert`, `crop_to_ink`, `keep_aspect`,
            `remove_background`, `binarize`).
        show_progress: Show a progress bar while decoding.
        workers: Parallel decoders (see `load_image_folder`).

    Raises:
        DataError: On any `load_image_folder` error, a file name that is neither `original_` nor `forgeries_`,
            or a writer with fewer than two genuine signatures.
    """
    images = load_image_folder(path, preprocessing, show_progress=show_progress, workers=workers)
    genuine = torch.tensor([is_genuine_signature(item) for item in images.paths], dtype=torch.bool)
    writers = images.labels.clone()
    genuine_counts = torch.bincount(writers[genuine], minlength=images.num_classes)
    for writer, count in enumerate(genuine_counts.tolist()):
        if count < _MIN_GENUINE:
            raise DataError(
                f"{path}: writer {images.class_names[writer]!r} has {count} genuine signature(s) (original_*), "
                f"fewer than {_MIN_GENUINE}"
            )
    labels = signature_labels(writers, genuine, images.num_classes)
    forgery_names = [
        f"{images.class_names[int(writers[index])]}/{Path(images.paths[index]).stem}"
        for index in torch.nonzero(~genuine).flatten().tolist()
    ]
    dataset = SignatureDataset(
        images=images.images,
        labels=labels,
        class_names=list(images.class_names) + forgery_names,
        paths=images.paths,
        preprocessing=preprocessing,
        writers=writers,
        genuine=genuine,
        writer_names=list(images.class_names),
    )
    logger.info(
        "%d writers: %d genuine signatures and %d forgeries",
        dataset.num_writers,
        int(genuine.sum()),
        int((~genuine).sum()),
    )
    return dataset
