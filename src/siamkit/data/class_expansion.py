"""New classes from old: rotated and reflected copies of every class count as classes of their own.

A metric learned from few classes tends to memorise them; multiplying the number of training classes with
transformed copies (a reflected "4" is not a "4", but it is a consistent shape) makes the embedding
describe shapes in general. Choose transformations that cannot turn a training class into a test class
(a "6" turned by 180 degrees is a "9").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from siamkit.data.image_folder import ImageDataset
from siamkit.data.signature_folder import SignatureDataset, signature_labels
from siamkit.errors import ConfigError

CLASS_TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda images: images,
    "flip": lambda images: images.flip(-1),
    "rotate90": lambda images: images.rot90(1, (-2, -1)),
    "rotate180": lambda images: images.rot90(2, (-2, -1)),
    "rotate270": lambda images: images.rot90(3, (-2, -1)),
    "flip_rotate90": lambda images: images.flip(-1).rot90(1, (-2, -1)),
    "flip_rotate180": lambda images: images.flip(-1).rot90(2, (-2, -1)),
    "flip_rotate270": lambda images: images.flip(-1).rot90(3, (-2, -1)),
}


def expand_classes(dataset: ImageDataset, transforms: Sequence[str]) -> ImageDataset:
    """Adds, for every transform, a transformed copy of every class as a new class.

    Args:
        dataset: Images of square size (rotations by 90 degrees must keep the shape).
        transforms: Names from `CLASS_TRANSFORMS`; include `identity` to keep the original classes.

    Returns:
        A data set with `len(transforms) * num_classes` classes named `"<class>/<transform>"`.
    """
    if isinstance(dataset, SignatureDataset):
        return expand_writers(dataset, transforms)
    _check_transforms(dataset, transforms)
    images, labels, names, paths = [], [], [], []
    for position, name in enumerate(transforms):
        images.append(CLASS_TRANSFORMS[name](dataset.images))
        labels.append(dataset.labels + position * dataset.num_classes)
        names += [f"{class_name}/{name}" for class_name in dataset.class_names]
        paths += [f"{path}#{name}" for path in dataset.paths]
    return ImageDataset(torch.cat(images).contiguous(), torch.cat(labels), names, paths, dataset.preprocessing)


def expand_writers(dataset: SignatureDataset, transforms: Sequence[str]) -> SignatureDataset:
    """Adds, for every transform, a transformed copy of every writer as a new writer, forgeries included.

    A mirrored writer's genuine signatures are "same" with each other, and the mirrored forgeries of that writer
    stay its hard negatives: the copy is a consistent new signature with its own skilled imitations. Only
    transforms that keep the (non-square) image shape apply: `flip`, `rotate180`, `flip_rotate180`.

    Returns:
        A signature data set with `len(transforms) * num_writers` writers named `"<writer>/<transform>"`.
    """
    _check_transforms(dataset, transforms)
    forgery_classes = [dataset.class_names[int(label)] for label in dataset.labels[~dataset.genuine]]
    images, writers, genuine, writer_names, forgery_names, paths = [], [], [], [], [], []
    for position, name in enumerate(transforms):
        images.append(CLASS_TRANSFORMS[name](dataset.images))
        writers.append(dataset.writers + position * dataset.num_writers)
        genuine.append(dataset.genuine)
        writer_names += [f"{writer}/{name}" for writer in dataset.writer_names]
        forgery_names += [f"{forgery}/{name}" for forgery in forgery_classes]
        paths += [f"{path}#{name}" for path in dataset.paths]
    all_writers, all_genuine = torch.cat(writers), torch.cat(genuine)
    return SignatureDataset(
        images=torch.cat(images).contiguous(),
        labels=signature_labels(all_writers, all_genuine, len(writer_names)),
        class_names=writer_names + forgery_names,
        paths=paths,
        preprocessing=dataset.preprocessing,
        writers=all_writers,
        genuine=all_genuine,
        writer_names=writer_names,
    )


def _check_transforms(dataset: ImageDataset, transforms: Sequence[str]) -> None:
    unknown = [name for name in transforms if name not in CLASS_TRANSFORMS]
    if unknown:
        raise ConfigError(f"unknown class transforms {unknown}; choose from {sorted(CLASS_TRANSFORMS)}")
    height, width = dataset.images.shape[-2:]
    if height != width and any("90" in name or "270" in name for name in transforms):
        raise ConfigError(f"rotating classes by 90 degrees needs square images, got {height}x{width}")


def original_class_name(class_name: str) -> str:
    """The class a transformed copy was made from ("Alphabet/character01/rotate90" -> "Alphabet/character01").

    Names without a transform suffix come back unchanged, so grouping by alphabet (`group_of`) puts every
    rotated copy in the alphabet of its original.
    """
    base, separator, suffix = class_name.rpartition("/")
    return base if separator and suffix in CLASS_TRANSFORMS else class_name
