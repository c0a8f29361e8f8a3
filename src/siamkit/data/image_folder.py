"""Image data sets laid out as one folder per class, read from a folder or in place from a zip.

Every image is decoded and preprocessed once, up front, and kept in memory as `uint8` (Omniglot's 19,280
images at 105x105 take 213 MB), so training epochs never touch the disk or Pillow again.
"""

from __future__ import annotations

import logging
import os
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from siamkit.data.class_split import (
    as_index,
    choose_held_out_classes,
    group_of,
    natural_sort_key,
    relabel,
    resolve_classes,
)
from siamkit.data.decoding import ZipMember, load_image_arrays
from siamkit.data.preprocessing import IMAGE_SUFFIXES, PreprocessingConfig
from siamkit.errors import DataError

logger = logging.getLogger(__name__)


@dataclass
class ImageDataset:
    """Images of labelled classes, preloaded as `uint8`.

    Attributes:
        images: `(N, channels, height, width)` `uint8`, already resized (and inverted) by `preprocessing`;
            `normalize_batch` turns a batch of them into encoder input.
        labels: `(N,)` `int64` class index of each image, into `class_names`.
        class_names: Name of each class; for folders, the class folder's path ("Alphabet/character01").
        paths: Where each image came from (for error messages and reports).
        preprocessing: How the images were made; stored in model bundles so inference matches training.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    paths: list[str]
    preprocessing: PreprocessingConfig

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be int64 ({self.images.shape[0]},), got {tuple(self.labels.shape)}")
        if len(self.paths) != self.images.shape[0]:
            raise ValueError(f"got {len(self.paths)} paths for {self.images.shape[0]} images")
        if self.labels.numel() and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(self.class_names):
            raise ValueError(f"labels must lie in 0..{len(self.class_names) - 1}")

    @property
    def num_classes(self) -> int:
        """Number of classes (some may have no images in a `subset`)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def class_counts(self) -> torch.Tensor:
        """`(num_classes,)` number of images of each class."""
        return torch.bincount(self.labels, minlength=self.num_classes)

    def group_of(self, class_name: str) -> str:
        """The group (parent folder) of a class: the alphabet of an Omniglot character, for instance."""
        return group_of(class_name)

    @property
    def groups(self) -> list[str]:
        """The distinct groups of the classes, in natural order (a flat layout has one group per class)."""
        return sorted({group_of(name) for name in self.class_names}, key=natural_sort_key)

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ImageDataset:
        """The images at `indices` (or where a boolean mask is true), keeping every class name and label number."""
        index = as_index(indices)
        return ImageDataset(
            images=self.images[index],
            labels=self.labels[index],
            class_names=list(self.class_names),
            paths=[self.paths[i] for i in index.tolist()],
            preprocessing=self.preprocessing,
        )

    def select_classes(self, classes: Sequence[int | str]) -> ImageDataset:
        """Only the images of `classes` (indices or names), relabelled 0..k-1 in the order given."""
        kept = resolve_classes(self.class_names, classes)
        keep, labels = relabel(self.labels, kept, self.num_classes)
        return ImageDataset(
            images=self.images[keep],
            labels=labels,
            class_names=[self.class_names[i] for i in kept],
            paths=[self.paths[i] for i in keep.tolist()],
            preprocessing=self.preprocessing,
        )

    def split_by_class(
        self, held_out: float | Sequence[str], seed: int = 0, *, by_group: bool = False
    ) -> tuple[ImageDataset, ImageDataset]:
        """Splits whole classes (never single images) into `(train, held_out)`, each relabelled from 0.

        Args:
            held_out: A fraction in (0, 1) of the classes to hold out at random, or class / group names
                (e.g. `["Korean", "Greek"]` holds out those Omniglot alphabets).
            seed: Seed of the random choice of classes.
            by_group: With a fraction, hold out that fraction of whole groups (alphabets) instead.
        """
        held = choose_held_out_classes(self.class_names, held_out, seed, by_group)
        held_set = set(held)
        kept = [index for index in range(self.num_classes) if index not in held_set]
        return self.select_classes(kept), self.select_classes(held)


@dataclass
class _Listing:
    """The files and folders below a root, as POSIX paths relative to it, and how to read them."""

    display: str
    files: list[str]
    folders: set[str]
    archive: Path | None = None
    zip_prefix: str = ""
    directory: Path | None = None

    def full_name(self, relative: str) -> str:
        return f"{self.display}/{relative}"

    def source(self, relative: str) -> Path | ZipMember:
        if self.directory is not None:
            return self.directory / relative
        assert self.archive is not None
        return ZipMember(str(self.archive), self.zip_prefix + relative)


def _parent(relative: str) -> str:
    """The folder of a relative POSIX path ("" at the root); plain string work, as pathlib is slow on 20k names."""
    return relative.rpartition("/")[0]


def _is_hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def _list_directory(root: Path) -> _Listing:
    files: list[str] = []
    folders: set[str] = set()
    for current, directories, names in os.walk(root):
        directories[:] = [name for name in directories if not _is_hidden(name)]
        relative = Path(current).relative_to(root).as_posix()
        prefix = "" if relative == "." else relative + "/"
        folders.update(prefix + name for name in directories)
        files.extend(prefix + name for name in names if not _is_hidden(name))
    return _Listing(display=str(root), files=files, folders=folders, directory=root)


def _list_zip(archive_path: Path, inner: str) -> _Listing:
    try:
        with zipfile.ZipFile(archive_path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{archive_path}: not a readable zip file ({error})") from None
    prefix = inner.strip("/") + "/" if inner.strip("/") else ""
    files: list[str] = []
    folders: set[str] = set()
    seen_inner = not prefix
    for info in entries:
        name = info.filename
        if not name.startswith(prefix):
            continue
        seen_inner = True
        relative = name[len(prefix) :].rstrip("/")
        parts = relative.split("/") if relative else []
        if not parts or any(_is_hidden(part) for part in parts):
            continue
        folders.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
        if info.is_dir():
            folders.add(relative)
        else:
            files.append(relative)
    display = f"{archive_path}/{prefix.rstrip('/')}" if prefix else str(archive_path)
    if not seen_inner:
        raise DataError(f"{archive_path}: the zip has no folder {inner.strip('/')!r}")
    return _Listing(display=display, files=files, folders=folders, archive=archive_path, zip_prefix=prefix)


def _open_listing(path: str | Path) -> _Listing:
    """Lists a folder, a zip, or a folder inside a zip ("archive.zip/inner/folder")."""
    candidate = Path(path)
    if candidate.is_dir():
        return _list_directory(candidate)
    if candidate.is_file():
        if candidate.suffix.lower() == ".zip" or zipfile.is_zipfile(candidate):
            return _list_zip(candidate, "")
        raise DataError(f"{candidate}: not a folder or a .zip file")
    parts = candidate.parts
    for end in range(len(parts) - 1, 0, -1):
        archive = Path(*parts[:end])
        if archive.suffix.lower() == ".zip" and archive.is_file():
            return _list_zip(archive, "/".join(parts[end:]))
    raise DataError(f"{candidate}: no such folder or zip file")


def _check_folders(listing: _Listing, image_folders: set[str]) -> None:
    """Rejects empty class folders: leaf folders without images that sit beside folders holding images."""
    holding_images: set[str] = set()
    for folder in image_folders:
        parts = folder.split("/")
        holding_images.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    children: defaultdict[str, set[str]] = defaultdict(set)
    for folder in listing.folders:
        parent, _, _ = folder.rpartition("/")
        children[parent].add(folder)
    for folder in sorted(listing.folders, key=natural_sort_key):
        if children.get(folder) or folder in holding_images:
            continue
        parent, _, _ = folder.rpartition("/")
        if any(sibling in holding_images for sibling in children[parent]):
            raise DataError(f"{listing.full_name(folder)}: class folder has no images")


def _class_of_images(listing: _Listing, images: list[str], class_depth: int | None) -> tuple[list[str], str]:
    """The class name of each image and the folder (relative to the root) class names are relative to."""
    folders = [_parent(image) for image in images]
    for image, folder in zip(images, folders, strict=True):
        if not folder:
            raise DataError(
                f"{listing.full_name(image)}: image is not inside a class folder (use one folder per class)"
            )
    split_folders = [folder.split("/") for folder in folders]
    distinct = {tuple(parts) for parts in split_folders}
    # Strip the folders every image shares (a zip's wrapper folder, say), keeping at least one level per class.
    strip = min(len(parts) for parts in distinct) - 1
    first = next(iter(distinct))
    for depth in range(strip):
        if any(parts[depth] != first[depth] for parts in distinct):
            strip = depth
            break
    base = "/".join(first[:strip])
    if class_depth is None:
        ancestors = {parts[:depth] for parts in distinct for depth in range(1, len(parts))}
        conflicts = sorted(distinct & ancestors)
        if conflicts:
            raise DataError(
                f"{listing.full_name('/'.join(conflicts[0]))}: folder holds images and also class folders below "
                "it (move its images into a folder of their own, or set class_depth)"
            )
        return ["/".join(parts[strip:]) for parts in split_folders], base
    if class_depth < 1:
        raise DataError(f"{listing.display}: class_depth must be at least 1, got {class_depth}")
    names = []
    for image, parts in zip(images, split_folders, strict=True):
        if len(parts) - strip < class_depth:
            raise DataError(
                f"{listing.full_name(image)}: image is {len(parts) - strip} folder(s) deep below "
                f"{listing.full_name(base) if base else listing.display}, but class_depth is {class_depth}"
            )
        names.append("/".join(parts[strip : strip + class_depth]))
    return names, base


@dataclass
class ImageFolderIndex:
    """What `scan_image_folder` found: every image's class and source, in load order, nothing decoded yet.

    Attributes:
        root: The folder or zip (and inner folder) scanned, as named in messages.
        class_names: Class names in natural order; a label is an index into this list.
        labels: The class index of each image.
        paths: Each image's full name ("archive.zip/cedar/3/original_3_1.png").
        sources: What to decode for each image: a file path or a `ZipMember`.
    """

    root: str
    class_names: list[str]
    labels: list[int]
    paths: list[str]
    sources: list[Path | ZipMember]

    def __len__(self) -> int:
        return len(self.paths)


def scan_image_folder(
    path: str | Path, *, min_images_per_class: int = 2, class_depth: int | None = None
) -> ImageFolderIndex:
    """Finds the classes and images of a one-folder-per-class data set and checks the layout, without decoding.

    See `load_image_folder` for the layout rules, arguments and errors (all but decoding errors come from here).
    """
    listing = _open_listing(path)
    images = [name for name in listing.files if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES]
    if not images:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        raise DataError(f"{listing.display}: no images found (expected one folder per class of {suffixes})")
    _check_folders(listing, {_parent(image) for image in images if "/" in image})
    class_of, base = _class_of_images(listing, images, class_depth)
    counts = Counter(class_of)
    class_names = sorted(counts, key=natural_sort_key)
    for name in class_names:
        if counts[name] < min_images_per_class:
            folder = listing.full_name(f"{base}/{name}" if base else name)
            raise DataError(
                f"{folder}: class has {counts[name]} image(s), fewer than min_images_per_class ({min_images_per_class})"
            )
    if len(class_names) < 2:
        raise DataError(
            f"{listing.display}: found only one class ({class_names[0]!r}); verification needs at least 2 "
            "classes (one folder per class)"
        )
    label_of = {name: index for index, name in enumerate(class_names)}
    order = sorted(range(len(images)), key=lambda i: (label_of[class_of[i]], natural_sort_key(images[i])))
    return ImageFolderIndex(
        root=listing.display,
        class_names=class_names,
        labels=[label_of[class_of[i]] for i in order],
        paths=[listing.full_name(images[i]) for i in order],
        sources=[listing.source(images[i]) for i in order],
    )


def load_image_folder(
    path: str | Path,
    preprocessing: PreprocessingConfig,
    *,
    min_images_per_class: int = 2,
    class_depth: int | None = None,
    show_progress: bool = False,
    workers: int | None = None,
) -> ImageDataset:
    """Loads a one-folder-per-class image data set from a folder, a zip, or a folder inside a zip.

    Layout: each class is a folder of images; folders may nest ("Alphabet/character01"). Class names are the
    class folders' paths relative to the deepest folder all images share, so a zip that wraps everything in
    one top folder (Omniglot's `images_background/`, ORL's `orl_faces/`) gives the same names as that folder.
    Classes are numbered in natural order ("s2" before "s10"). Hidden files and folders and `__MACOSX` are
    skipped, and files without an image suffix (READMEs, `Thumbs.db`) are ignored.

    Args:
        path: A folder, a `.zip` file (read in place, never extracted) or `archive.zip/inner/folder`.
        preprocessing: How to decode, resize and colour-convert each image (`kind` must be `image`).
        min_images_per_class: Classes with fewer images are an error; verification needs two images of a
            class to form a positive pair.
        class_depth: Use only the first `class_depth` folder levels (below the shared folder) as the class,
            pooling deeper folders: 1 makes Omniglot's 30 alphabets the classes. None: the image's own folder.
        show_progress: Show a rich progress bar while decoding.
        workers: Parallel decoders (default: the usable CPUs, at most 8; see `load_image_arrays`).

    Raises:
        DataError: with one line naming the path and the problem: no such path, no images, an image outside
            any class folder, a folder holding both images and class folders, an empty class folder beside
            class folders, a class with too few images, fewer than two classes, or a file with an image suffix
            that cannot be decoded.
    """
    if preprocessing.kind != "image":
        raise DataError(f"{path}: load_image_folder needs image preprocessing, got kind {preprocessing.kind!r}")
    started = time.perf_counter()
    index = scan_image_folder(path, min_images_per_class=min_images_per_class, class_depth=class_depth)
    arrays = load_image_arrays(
        index.sources,
        preprocessing,
        names=index.paths,
        workers=workers,
        show_progress=show_progress,
        description=f"Loading {index.root}",
    )
    dataset = ImageDataset(
        images=torch.from_numpy(arrays),
        labels=torch.tensor(index.labels, dtype=torch.int64),
        class_names=index.class_names,
        paths=index.paths,
        preprocessing=preprocessing,
    )
    logger.info(
        "loaded %d images of %d classes from %s in %.1f s",
        len(dataset),
        dataset.num_classes,
        index.root,
        time.perf_counter() - started,
    )
    return dataset
