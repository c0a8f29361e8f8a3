"""`Gallery`: enrolled identities searched with a Siamese model, kept in one crash-safe SQLite file.

with Gallery.create("staff.gallery", model) as gallery:
    gallery.enrol("alice", ["alice1.png", "alice2.png"], metadata={"team": "ops"})
    result = gallery.identify("visitor.png", top_k=5)   # result.identity is None when unknown
    claim = gallery.verify_claim("alice", "door.png")    # claim.accepted, claim.score (mean over references)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch

from siamkit.errors import ConfigError
from siamkit.gallery.claims import ClaimPolicy, check_claim_scoring, claim_scores
from siamkit.gallery.errors import GalleryError
from siamkit.gallery.identification import IdentificationPolicy, fpir_threshold
from siamkit.gallery.index import ReferenceIndex
from siamkit.gallery.search_config import SearchConfig
from siamkit.gallery.storage import SCHEMA_VERSION, GallerySettings, GalleryStorage
from siamkit.gallery.transfer import export_gallery, read_export
from siamkit.model import Inputs, SiameseModel

logger = logging.getLogger(__name__)

# Reference candidates fetched per wanted identity at first; doubled until enough distinct identities appear.
_CANDIDATES_PER_IDENTITY = 4
_FLOAT32 = np.dtype(np.float32)


@dataclass
class IdentificationResult:
    """The answer to "who is this?" in an open set.

    Attributes:
        identity: The best identity when its score passes the threshold, else None ("unknown").
        score: The best identity's score (None for an empty gallery).
        threshold: The threshold applied.
        candidates: Up to `top_k` `(identity, score)` pairs, best first; an identity's score is the best over
            its references.
        warning: Set when the gallery's own threshold was fitted on a much smaller gallery (see
            `IdentificationPolicy.growth_warning`).
    """

    identity: str | None
    score: float | None
    threshold: float
    candidates: list[tuple[str, float]] = field(default_factory=list)
    warning: str | None = None

    @property
    def known(self) -> bool:
        return self.identity is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "known": self.known,
            "score": self.score,
            "threshold": self.threshold,
            "candidates": [{"identity": name, "score": score} for name, score in self.candidates],
            "warning": self.warning,
        }


@dataclass
class ClaimResult:
    """The answer to "is this who they claim to be?".

    Attributes:
        accepted: Whether the score passes the threshold.
        score: The query's score against the claimed identity's references, combined by `scoring`.
        threshold: The threshold applied.
        scoring: How the references' pair scores were combined (`siamkit.gallery.claims`).
        references: How many references the identity has.
    """

    accepted: bool
    score: float
    threshold: float
    scoring: str = "mean"
    references: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "score": self.score,
            "threshold": self.threshold,
            "scoring": self.scoring,
            "references": self.references,
        }


class Gallery:
    """Identities with reference embeddings, searchable with the model the gallery was made for.

    Use `Gallery.create` or `Gallery.open`. Every enrolment or removal is one SQLite transaction, so once a
    call returns the change survives a crash; the in-memory search index is rebuilt from the file on open.

    Args:
        storage: The open gallery file.
        settings: The file's settings (already checked against `model`).
        model: The model whose embeddings the gallery holds.
    """

    def __init__(self, storage: GalleryStorage, settings: GallerySettings, model: SiameseModel) -> None:
        self.storage = storage
        self.settings = settings
        self.model = model
        self.index = ReferenceIndex(model, settings.comparison, settings.embedding_dim, settings.search)
        self._reference_identities: dict[int, str] = {}
        self._data_version = -1
        self._rebuild_index()

    @classmethod
    def create(
        cls,
        path: str | Path,
        model: SiameseModel,
        search: SearchConfig | None = None,
        claims: ClaimPolicy | None = None,
    ) -> Gallery:
        """Creates an empty gallery file for `model`; an existing file is never overwritten.

        Args:
            path: Where the gallery file goes.
            model: The model whose embeddings the gallery will hold.
            search: How to search (exact by default); stored in the file, so later opens search the same way.
            claims: How claims are decided by default (the mean over references at the bundle's threshold
                unless given); stored in the file. `set_claim_policy` changes it later.
        """
        config = model.network.config
        if config is None:
            raise ConfigError("a gallery needs a model built from a SiameseConfig (its embedding size is unknown)")
        settings = GallerySettings(
            schema_version=SCHEMA_VERSION,
            fingerprint=model.fingerprint,
            embedding_dim=int(config.encoder.embedding_dim),
            comparison=config.comparison.name,
            search=search or SearchConfig(),
            claims=claims or ClaimPolicy(),
        )
        ReferenceIndex(model, settings.comparison, settings.embedding_dim, settings.search)  # rejects bad modes early
        storage = GalleryStorage.create(path, settings)
        logger.info("created gallery %s for model %s", path, settings.fingerprint)
        return cls(storage, settings, model)

    @classmethod
    def open(cls, path: str | Path, model: SiameseModel, search: SearchConfig | None = None) -> Gallery:
        """Opens a gallery file, refusing files made for another model or a newer schema, and corrupt files.

        A file of an older schema version is migrated in place first, in one transaction (see `migration`).

        Args:
            path: The gallery file.
            model: The model the gallery was made for.
            search: Searches this way for this session only, instead of the way stored in the file.
        """
        storage = GalleryStorage.open(path)
        try:
            settings = storage.read_settings()
            fingerprint = model.fingerprint
            if settings.fingerprint != fingerprint:
                raise GalleryError(
                    f"{path}: gallery was made for model fingerprint {settings.fingerprint}, but the given model's "
                    f"fingerprint is {fingerprint}; re-enrol with this model or load the original one"
                )
            if search is not None:
                settings = replace(settings, search=search)
            return cls(storage, settings, model)
        except BaseException:
            storage.close()
            raise

    def __enter__(self) -> Gallery:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.storage.close()

    @property
    def path(self) -> Path:
        return self.storage.path

    def __len__(self) -> int:
        """Number of enrolled identities."""
        return len(self.storage.identities())

    def __contains__(self, identity: object) -> bool:
        return isinstance(identity, str) and self.storage.metadata(identity) is not None

    def identities(self) -> list[str]:
        """Enrolled identities, sorted."""
        return self.storage.identities()

    def metadata(self, identity: str) -> dict[str, str]:
        """An identity's key/value metadata."""
        metadata = self.storage.metadata(identity)
        if metadata is None:
            raise GalleryError(f"{self.path}: unknown identity {identity!r}")
        return metadata

    def reference_count(self, identity: str | None = None) -> int:
        """References of one identity, or of the whole gallery."""
        if identity is None:
            return self.storage.reference_count()
        self.metadata(identity)  # raises for unknown identities
        return len(self.storage.reference_ids(identity))

    def enrol(
        self,
        identity: str,
        images: Inputs | None = None,
        *,
        embeddings: torch.Tensor | np.ndarray | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        """Adds references to an identity (creating it), merging `metadata` into its existing metadata.

        Args:
            identity: The identity's name.
            images: One or many inputs the model embeds (anything `SiameseModel.embed` accepts).
            embeddings: Precomputed `(N, D)` (or one `(D,)`) reference embeddings from this model, instead.
            metadata: String keys and values stored with the identity.

        Returns:
            The number of references added.
        """
        if not isinstance(identity, str) or not identity.strip():
            raise GalleryError(f"identity must be a non-empty string, got {identity!r}")
        _check_metadata(metadata)
        # References go through the second branch, as the supports of `classify_one_shot` do.
        vectors = self._embeddings_of(images, embeddings, branch=1 if self.model.network.is_half_twin else 0)
        if vectors.shape[0] == 0:
            raise GalleryError(f"no references given for identity {identity!r}")
        return self.enrol_many([(identity, vectors, metadata)])

    def enrol_many(self, enrolments: Sequence[tuple[str, np.ndarray, Mapping[str, str] | None]]) -> int:
        """Adds precomputed `(identity, embeddings (N, D), metadata)` enrolments in one transaction: all or none.

        Returns:
            The number of references added.
        """
        dim = self.settings.embedding_dim
        identities: list[tuple[str, Mapping[str, str] | None]] = []
        owners: list[str] = []  # the identity of each reference, in order
        blocks: list[np.ndarray] = []
        for identity, embeddings, metadata in enrolments:
            if not isinstance(identity, str) or not identity.strip():
                raise GalleryError(f"identity must be a non-empty string, got {identity!r}")
            if metadata:
                _check_metadata(metadata)
            # `is` rather than `==`: comparing a dtype with a type object converts it on every call (a few tenths
            # of a microsecond per identity); any other float32 dtype (non-native byte order) is converted below.
            if isinstance(embeddings, np.ndarray) and embeddings.dtype is _FLOAT32 and embeddings.ndim == 2:
                vectors = embeddings  # the common bulk case: no conversion
            else:
                vectors = self._embeddings_of(None, embeddings, branch=0, check_finite=False)
            count, length = vectors.shape
            if count == 0:
                raise GalleryError(f"no references given for identity {identity!r}")
            if length != dim:
                raise GalleryError(
                    f"embeddings for identity {identity!r} must have shape (N, {dim}), got {tuple(vectors.shape)}"
                )
            identities.append((identity, metadata))
            blocks.append(vectors)
            if count == 1:
                owners.append(identity)
            else:
                owners += [identity] * count
        if not identities:
            return 0
        # One finiteness check, one SQLite transaction and one index add for the whole batch (faiss builds HNSW
        # graphs in parallel only within one call).
        all_vectors = np.ascontiguousarray(blocks[0] if len(blocks) == 1 else np.concatenate(blocks))
        if not np.isfinite(all_vectors).all():
            bad = owners[int(np.flatnonzero(~np.isfinite(all_vectors).all(axis=1))[0])]
            raise GalleryError(f"embeddings for identity {bad!r} contain NaN or infinite values")
        self._refresh_if_changed_elsewhere()
        ids = self.storage.add_many(identities, owners, all_vectors)
        self._data_version = self.storage.data_version()
        self._reference_identities.update(zip(ids, owners, strict=True))
        self.index.add(np.asarray(ids, dtype=np.int64), all_vectors)
        logger.debug("enrolled %d references for %d identities", len(ids), len(identities))
        return len(ids)

    def export(self, path: str | Path) -> None:
        """Writes every identity, its metadata and references to an `.npz` file atomically (see `transfer`)."""
        export_gallery(self, path)

    def import_from(self, path: str | Path) -> int:
        """Enrols everything in a file written by `export` (same model only); returns references added."""
        return self.enrol_many(read_export(path, self.settings.fingerprint))

    def remove(self, identity: str) -> None:
        """Deletes an identity, its metadata and all its references."""
        self._refresh_if_changed_elsewhere()
        ids = self.storage.remove_identity(identity)
        self._data_version = self.storage.data_version()
        self.index.remove(ids)
        for reference_id in ids:
            self._reference_identities.pop(reference_id, None)

    def identify(
        self,
        query: Inputs | None = None,
        *,
        embedding: torch.Tensor | np.ndarray | None = None,
        top_k: int = 5,
        threshold: float | None = None,
    ) -> IdentificationResult:
        """Ranks identities by their best reference's score for one query, and decides known or unknown.

        Args:
            query: One input the model embeds.
            embedding: The query's embedding, instead.
            top_k: How many candidate identities to return.
            threshold: Overrides the open-set threshold: by default the gallery's own
                (`calibrate_identification`), else the bundle's pair threshold.
        """
        if top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {top_k}")
        self._refresh_if_changed_elsewhere()
        policy = self.settings.identification
        limit = self._threshold(threshold if threshold is not None else policy.threshold)
        warning = policy.growth_warning(len(self.index)) if threshold is None else None
        vector = self._single_query(query, embedding)
        candidates = self._best_identities(vector, top_k)
        if not candidates:
            return IdentificationResult(identity=None, score=None, threshold=limit, candidates=[], warning=warning)
        best_identity, best_score = candidates[0]
        accepted = self._passes(best_score, limit)
        return IdentificationResult(
            identity=best_identity if accepted else None, score=best_score, threshold=limit, candidates=candidates,
            warning=warning,
        )  # fmt: skip

    def verify_claim(
        self,
        identity: str,
        query: Inputs | None = None,
        *,
        embedding: torch.Tensor | np.ndarray | None = None,
        threshold: float | None = None,
        scoring: str | None = None,
    ) -> ClaimResult:
        """Decides whether one query matches a claimed identity, from its score against all the references.

        Args:
            identity: The claimed, enrolled identity.
            query: One input the model embeds.
            embedding: The query's embedding, instead.
            threshold: Overrides the threshold: by default the gallery's claim threshold when it was calibrated
                for this scoring (`set_claim_policy`), else the bundle's.
            scoring: How the pair scores against the identity's references become one (`mean`, `best`,
                `centroid`; see `siamkit.gallery.claims`); by default the gallery's policy (`mean` unless set).
                `mean` keeps the bundle's pair threshold meaningful whatever the number of references; the
                others need a threshold calibrated for claims.
        """
        self._refresh_if_changed_elsewhere()
        scoring = check_claim_scoring(scoring if scoring is not None else self.settings.claims.scoring)
        limit = self._threshold(threshold if threshold is not None else self.settings.claims.threshold_for(scoring))
        references = self.storage.identity_embeddings(identity, self.settings.embedding_dim)
        if references.shape[0] == 0:
            raise GalleryError(f"{self.path}: unknown identity {identity!r}")
        vector = self._single_query(query, embedding)
        score = float(claim_scores(self.model, vector, references, scoring)[0])
        return ClaimResult(
            accepted=self._passes(score, limit),
            score=score,
            threshold=limit,
            scoring=scoring,
            references=int(references.shape[0]),
        )

    def _best_identities(self, vector: np.ndarray, top_k: int) -> list[tuple[str, float]]:
        total = len(self.index)
        count = top_k * _CANDIDATES_PER_IDENTITY
        while True:
            ids, scores = self.index.search(vector, count)
            best: dict[str, float] = {}
            # Results come best first, so each identity's first appearance is its best reference.
            for reference_id, score in zip(ids.tolist(), scores.tolist(), strict=True):
                best.setdefault(self._reference_identities[reference_id], float(score))
            if len(best) >= top_k or count >= total:
                return list(best.items())[:top_k]
            count *= 2

    def set_claim_policy(self, policy: ClaimPolicy) -> None:
        """Stores how claims are decided by default (scoring and, for it, a calibrated threshold)."""
        self.storage.write_policy(policy)
        self.settings = replace(self.settings, claims=policy)

    def calibrate_identification(
        self, strangers: Inputs | None = None, *, embeddings: torch.Tensor | np.ndarray | None = None,
        target_fpir: float = 0.01,
    ) -> dict[str, Any]:  # fmt: skip
        """Fits and stores the open-set threshold at which at most `target_fpir` of `strangers` would be named.

        Args:
            strangers: Images of people who are not enrolled (and not in the references), many of them.
            embeddings: Their embeddings, instead.
            target_fpir: Wanted false positive identification rate on this gallery, as it is now.

        Returns:
            The threshold (score units), the FPIR reached on the strangers, their count and the gallery's size.
        """
        self._refresh_if_changed_elsewhere()
        if len(self.index) == 0:  # before embedding anything
            raise GalleryError(f"{self.path}: the gallery is empty; enrol identities before calibrating it")
        vectors = self._embeddings_of(strangers, embeddings, branch=0)
        # A stranger's best identity score is its nearest reference's score.
        best = np.array([self.index.search(vector, 1)[1][0] for vector in vectors])
        similarities = self.model.similarity_from_score(best)
        limit = fpir_threshold(similarities, target_fpir)
        policy = IdentificationPolicy(
            float(self.model.similarity_from_score(np.array([limit]))[0]), len(self.index), target_fpir
        )
        self.storage.write_policy(policy)
        self.settings = replace(self.settings, identification=policy)
        achieved = float((similarities >= limit).mean())
        return {
            "threshold": policy.threshold,
            "fpir": achieved,
            "n_strangers": len(best),
            "references": policy.references,
        }

    def _rebuild_index(self) -> None:
        self._data_version = self.storage.data_version()
        ids, identities, embeddings = self.storage.all_references(self.settings.embedding_dim)
        self.index.reset()
        self.index.add(ids, embeddings)
        self._reference_identities = dict(zip(ids.tolist(), identities, strict=True))
        logger.debug("indexed %d references from %s", len(ids), self.path)

    def _refresh_if_changed_elsewhere(self) -> None:
        # Another process may have written to the file since the index was built.
        if self.storage.data_version() != self._data_version:
            stored = self.storage.read_settings()
            self.settings = replace(self.settings, claims=stored.claims, identification=stored.identification)
            self._rebuild_index()

    def _threshold(self, threshold: float | None) -> float:
        value = threshold if threshold is not None else self.model.threshold
        if value is None:
            raise ConfigError("this model has no decision threshold yet; run `siamkit calibrate` or pass threshold")
        return float(value)

    def _passes(self, score: float, threshold: float) -> bool:
        return score >= threshold if self.model.higher_is_more_similar else score <= threshold

    def _single_query(self, query: Inputs | None, embedding: torch.Tensor | np.ndarray | None) -> np.ndarray:
        vectors = self._embeddings_of(query, embedding, branch=0)
        if vectors.shape[0] != 1:
            raise GalleryError(f"expected exactly one query, got {vectors.shape[0]}")
        return vectors

    def _embeddings_of(
        self,
        inputs: Inputs | None,
        embeddings: torch.Tensor | np.ndarray | None,
        branch: int,
        check_finite: bool = True,
    ) -> np.ndarray:
        if (inputs is None) == (embeddings is None):
            raise GalleryError("give either inputs to embed or precomputed embeddings, not both or neither")
        if inputs is not None:
            return self.model.embed(inputs, branch=branch).numpy().astype(np.float32)
        assert embeddings is not None
        source = embeddings.detach().cpu().numpy() if isinstance(embeddings, torch.Tensor) else embeddings
        array = np.asarray(source, dtype=np.float32)
        if array.ndim == 1:
            array = array[None]
        dim = self.settings.embedding_dim
        if array.ndim != 2 or array.shape[1] != dim:
            raise GalleryError(f"embeddings must have shape (N, {dim}), got {tuple(array.shape)}")
        if check_finite and not np.isfinite(array).all():
            raise GalleryError("embeddings contain NaN or infinite values")
        return np.ascontiguousarray(array)


def _check_metadata(metadata: Mapping[str, str] | None) -> None:
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise GalleryError(f"metadata keys and values must be strings, got {key!r}: {value!r}")
