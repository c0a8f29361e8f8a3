"""`ServiceEngine`: the service's work, independent of HTTP: decode, embed in batches, score, search, enrol.

The app (`siamkit.service.app`) only turns requests into calls here and results into JSON. Nothing here runs
model code or SQLite on the event loop: decoding runs in worker threads, embedding in the micro-batcher's
thread and gallery calls on the gallery's thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import anyio.to_thread
import numpy as np
import torch

from siamkit.errors import ConfigError
from siamkit.gallery import Gallery
from siamkit.model import SiameseModel
from siamkit.model_card import describe_model
from siamkit.service.batching import MicroBatcher
from siamkit.service.config import ServiceConfig
from siamkit.service.errors import BadUploadError, NoGalleryError, UnknownIdentityError
from siamkit.service.gallery_worker import GalleryWorker
from siamkit.service.thumbnails import THUMBNAIL_METADATA_KEY
from siamkit.service.uploads import DecodedImage, decode_upload

logger = logging.getLogger(__name__)


class ServiceEngine:
    """A loaded model, its micro-batcher and optionally a gallery, ready to answer requests.

    Args:
        config: The service configuration.
        model: The model to serve; loaded from `config.model_path` when None.

    Raises:
        ConfigError: The model is not an image model or has no decision threshold.
        BundleError / GalleryError: The bundle or gallery file cannot be used (one-line messages).
    """

    def __init__(self, config: ServiceConfig, model: SiameseModel | None = None) -> None:
        if model is None:
            model = SiameseModel.load(config.model_path)
        if config.onnx_path is not None:
            model.use_onnx_export(config.onnx_path)
        if model.preprocessing.kind != "image":
            raise ConfigError(f"{config.model_path}: the service serves image models; this one embeds vectors")
        if model.threshold is None:
            raise ConfigError(
                f"{config.model_path}: the model has no decision threshold yet; run `siamkit calibrate` first"
            )
        self.config = config
        self.model = model
        self.threshold = float(model.threshold)
        self.fingerprint = model.fingerprint
        # A network built from a custom module (not a SiameseConfig) has no config to describe.
        self.model_card = (
            describe_model(model, fingerprint=self.fingerprint) if model.network.config is not None else None
        )
        # A half-twin embeds the second input of a pair, and gallery references, with its second branch.
        self.reference_branch = 1 if model.network.is_half_twin else 0
        self.batcher = MicroBatcher(self._embed, config.max_batch_images, config.batch_wait_seconds)
        self.gallery: GalleryWorker | None = None
        if config.gallery_path is not None:
            try:
                self.gallery = GalleryWorker(config.gallery_path, model, create=config.create_gallery)
            except BaseException:
                self.batcher.close()
                raise

    def _embed(self, images: np.ndarray, branch: int) -> np.ndarray:
        return self.model.embed(torch.from_numpy(images), branch=branch).numpy()

    def close(self) -> None:
        """Finishes queued work and releases the gallery file (idempotent)."""
        self.batcher.close()
        if self.gallery is not None:
            self.gallery.close()

    # ---- decoding and embedding

    async def decode(self, data: bytes, name: str, thumbnail: bool = False) -> DecodedImage:
        """Validates and preprocesses one uploaded image in a worker thread (see `decode_upload`)."""
        size = self.config.thumbnail_size if thumbnail else None
        return await anyio.to_thread.run_sync(
            decode_upload, data, name, self.model.preprocessing, self.config.max_pixels, size
        )

    async def _embed_images(self, images: Sequence[DecodedImage], branch: int) -> np.ndarray:
        return await self.batcher.embed(np.stack([image.array for image in images]), branch)

    def _similarity(self, score: float) -> float:
        return float(self.model.similarity_from_score(np.array([score]))[0])

    # ---- verification

    async def verify(self, first: DecodedImage, second: DecodedImage) -> dict[str, Any]:
        """Decides whether two images show the same identity."""
        if self.reference_branch == 0:
            both = await self._embed_images([first, second], 0)
            first_embedding, second_embedding = both[:1], both[1:]
        else:
            first_embedding, second_embedding = await asyncio.gather(
                self._embed_images([first], 0), self._embed_images([second], 1)
            )
        score = await anyio.to_thread.run_sync(self._score_pair, first_embedding, second_embedding)
        probability = self.model.probability(np.array([score]))
        return {
            "same": self.model.decide(score),
            "score": score,
            "threshold": self.threshold,
            "probability": None if probability is None else float(probability[0]),
            "similarity": self._similarity(score),
        }

    def _score_pair(self, first: np.ndarray, second: np.ndarray) -> float:
        return float(self.model.score_embeddings(torch.from_numpy(first), torch.from_numpy(second))[0])

    # ---- gallery

    def _gallery(self) -> GalleryWorker:
        if self.gallery is None:
            raise NoGalleryError("no gallery is loaded; start the service with `siamkit serve --gallery FILE`")
        return self.gallery

    async def identify(self, image: DecodedImage, top_k: int) -> dict[str, Any]:
        """Ranks enrolled identities for one image and decides known or unknown."""
        worker = self._gallery()
        embedding = await self._embed_images([image], 0)

        def search(gallery: Gallery) -> dict[str, Any]:
            result = gallery.identify(embedding=embedding, top_k=top_k)
            candidates = [
                {
                    "identity": identity,
                    "score": score,
                    "similarity": self._similarity(score),
                    "thumbnail": (gallery.storage.metadata(identity) or {}).get(THUMBNAIL_METADATA_KEY),
                }
                for identity, score in result.candidates
            ]
            return {
                "identity": result.identity,
                "known": result.known,
                "threshold": result.threshold,
                "candidates": candidates,
                "warning": result.warning,
            }

        return await worker.run(search)

    async def verify_claim(self, identity: str, image: DecodedImage, scoring: str | None = None) -> dict[str, Any]:
        """Decides whether one image shows the claimed, enrolled identity (`scoring`: see `gallery.claims`; None
        follows the gallery's claim policy)."""
        worker = self._gallery()
        embedding = await self._embed_images([image], 0)

        def check(gallery: Gallery) -> dict[str, Any]:
            if identity not in gallery:
                raise UnknownIdentityError(f"unknown identity {identity!r}: it is not enrolled in the gallery")
            claim = gallery.verify_claim(identity, embedding=embedding, scoring=scoring)
            return {
                "identity": identity,
                "scoring": claim.scoring,
                "references": claim.references,
                "same": claim.accepted,
                "score": claim.score,
                "similarity": self._similarity(claim.score),
                "threshold": claim.threshold,
            }

        return await worker.run(check)

    async def enrol(self, identity: str, images: Sequence[DecodedImage], metadata: Mapping[str, str]) -> dict[str, Any]:
        """Adds reference images to an identity (creating it) in one gallery transaction.

        The first image's thumbnail is stored with the identity unless it already has one.
        """
        worker = self._gallery()
        if THUMBNAIL_METADATA_KEY in metadata:
            raise BadUploadError(f"metadata key {THUMBNAIL_METADATA_KEY!r} is reserved for the identity's thumbnail")
        embeddings = await self._embed_images(images, self.reference_branch)
        thumbnail = images[0].thumbnail

        def add(gallery: Gallery) -> dict[str, Any]:
            stored = dict(metadata)
            existing = gallery.storage.metadata(identity) or {}
            if thumbnail is not None and THUMBNAIL_METADATA_KEY not in existing:
                stored[THUMBNAIL_METADATA_KEY] = thumbnail
            added = gallery.enrol(identity, embeddings=embeddings, metadata=stored)
            return {"identity": identity, "references": gallery.reference_count(identity), "added": added}

        return await worker.run(add)

    async def remove(self, identity: str) -> dict[str, Any]:
        """Deletes an identity and its references."""
        worker = self._gallery()

        def delete(gallery: Gallery) -> dict[str, Any]:
            if identity not in gallery:
                raise UnknownIdentityError(f"unknown identity {identity!r}: it is not enrolled in the gallery")
            gallery.remove(identity)
            return {"identity": identity, "removed": True}

        return await worker.run(delete)

    async def identities(self, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Enrolled identities (sorted by name) with their reference counts and metadata, thumbnails left out."""
        worker = self._gallery()

        def listing(gallery: Gallery) -> dict[str, Any]:
            names = gallery.identities()
            page = names[offset:] if limit is None else names[offset : offset + limit]
            rows = []
            for name in page:
                metadata = gallery.metadata(name)
                metadata.pop(THUMBNAIL_METADATA_KEY, None)
                rows.append({"identity": name, "references": gallery.reference_count(name), "metadata": metadata})
            return {"identities": rows, "total": len(names)}

        return await worker.run(listing)

    async def health(self) -> dict[str, Any]:
        """The model's fingerprint and whether a gallery is loaded, with its identity count."""
        count = 0 if self.gallery is None else await self.gallery.run(len)
        exported = self.model.onnx_export
        engine = "pytorch" if exported is None else "onnxruntime-int8" if exported.is_quantized else "onnxruntime"
        return {
            "status": "ok",
            "model": self.fingerprint,
            "engine": engine,
            "gallery": self.gallery is not None,
            "identities": count,
        }
