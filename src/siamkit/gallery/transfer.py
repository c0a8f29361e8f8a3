"""Exporting a gallery to one `.npz` file and reading it back, to move or back up enrolments.

The file holds plain arrays only (read with `allow_pickle=False`): each reference's identity and embedding,
every identity's metadata as JSON, the model fingerprint and a format version.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from siamkit.atomic import write_bytes_atomic
from siamkit.gallery.errors import GalleryError

if TYPE_CHECKING:
    from siamkit.gallery.gallery import Gallery

EXPORT_FORMAT_VERSION = 1
_KEYS = ("format_version", "fingerprint", "identities", "embeddings", "metadata")


def export_gallery(gallery: Gallery, path: str | Path) -> None:
    """Writes every identity, its metadata and its references to `path` atomically."""
    _, identities, embeddings = gallery.storage.all_references(gallery.settings.embedding_dim)
    metadata = {name: gallery.metadata(name) for name in gallery.identities()}
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format_version=np.array(EXPORT_FORMAT_VERSION),
        fingerprint=np.array(gallery.settings.fingerprint),
        identities=np.array(identities, dtype=str),
        embeddings=embeddings,
        metadata=np.array(json.dumps(metadata, sort_keys=True)),
    )
    write_bytes_atomic(path, buffer.getvalue())


def read_export(path: str | Path, fingerprint: str) -> list[tuple[str, np.ndarray, Mapping[str, str] | None]]:
    """Reads an export as `(identity, embeddings, metadata)` enrolments, refusing other models' files."""
    source = Path(path)
    try:
        with np.load(source, allow_pickle=False) as archive:
            missing = [key for key in _KEYS if key not in archive.files]
            if missing:
                raise GalleryError(f"{source}: not a gallery export (missing {', '.join(missing)})")
            arrays = {key: archive[key] for key in _KEYS}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise GalleryError(f"{source}: cannot read the gallery export ({error})") from error
    version = int(arrays["format_version"])
    if version != EXPORT_FORMAT_VERSION:
        raise GalleryError(f"{source}: export format version {version} is not supported")
    exported_fingerprint = str(arrays["fingerprint"])
    if exported_fingerprint != fingerprint:
        raise GalleryError(
            f"{source}: export was made with model fingerprint {exported_fingerprint}, "
            f"but this gallery's model fingerprint is {fingerprint}"
        )
    identities = [str(name) for name in arrays["identities"]]
    embeddings = np.asarray(arrays["embeddings"], dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(identities):
        raise GalleryError(f"{source}: export has {len(identities)} identities but embeddings {embeddings.shape}")
    try:
        metadata = json.loads(str(arrays["metadata"]))
    except json.JSONDecodeError as error:
        raise GalleryError(f"{source}: export metadata is not valid JSON ({error})") from error
    if not isinstance(metadata, dict):
        raise GalleryError(f"{source}: export metadata must map identities to key/value objects")
    rows_by_identity: dict[str, list[int]] = {}
    for row, owner in enumerate(identities):
        rows_by_identity.setdefault(owner, []).append(row)
    return [(name, embeddings[rows], metadata.get(name)) for name, rows in rows_by_identity.items()]
