"""Nearest-reference search over a gallery's embeddings, in the model's own score units.

Euclidean-like and cosine comparisons use a faiss index: exact (flat) by default, or an approximate HNSW graph
when the `SearchConfig` asks for it ("hnsw", or "auto" once the gallery is large). Cosine is searched as inner
product over unit vectors in both. Comparisons faiss cannot express (learned heads, Mahalanobis, Manhattan)
are searched exactly with the model's own `pairwise_scores`, in chunks.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np
import torch

from siamkit.errors import ConfigError
from siamkit.gallery.search_config import SearchConfig
from siamkit.model import SiameseModel

logger = logging.getLogger(__name__)

# Comparisons whose scores follow from a faiss flat index's raw output.
FAISS_COMPARISONS = ("euclidean", "squared_euclidean", "cosine")

_FALLBACK_CHUNK = 65536


class ReferenceIndex:
    """Search from one query embedding to the reference embeddings, exact or approximate.

    HNSW graphs cannot delete nodes, so removed references stay in the graph and are filtered out of results
    until the index is rebuilt (a gallery rebuilds it whenever it is opened).

    Args:
        model: Supplies the comparison (and, for the fallback, `pairwise_scores`).
        comparison: The comparison's registered name, choosing faiss or the fallback.
        embedding_dim: Length of the embeddings.
        search: Exact or approximate search; "hnsw" needs a comparison faiss can express.
    """

    def __init__(
        self, model: SiameseModel, comparison: str, embedding_dim: int, search: SearchConfig | None = None
    ) -> None:
        self.model = model
        self.comparison = comparison
        self.embedding_dim = embedding_dim
        self.search_config = search or SearchConfig()
        self.higher_is_more_similar = model.higher_is_more_similar
        if self.search_config.mode == "hnsw" and comparison not in FAISS_COMPARISONS:
            raise ConfigError(
                f"search mode 'hnsw' needs a {', '.join(FAISS_COMPARISONS)} comparison, not {comparison!r}; "
                "use 'exact' or 'auto'"
            )
        self._faiss: faiss.IndexIDMap2 | None = None
        self._approximate = False
        # HNSW cannot delete: ids removed since the graph was built, and the faiss selector excluding them.
        self._removed: set[int] = set()
        self._exclude_removed: faiss.IDSelector | None = None
        self._exclude_removed_ids: faiss.IDSelector | None = None
        self._inner_index: faiss.Index | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._embeddings = np.zeros((0, embedding_dim), dtype=np.float32)
        self.reset()

    @property
    def uses_faiss(self) -> bool:
        return self._faiss is not None

    @property
    def approximate(self) -> bool:
        """Whether searches currently walk an HNSW graph (approximate) rather than scanning every reference."""
        return self._approximate

    def __len__(self) -> int:
        if self._faiss is not None:
            return int(self._faiss.ntotal) - len(self._removed)
        return int(self._ids.shape[0])

    def reset(self) -> None:
        """Empties the index, starting again from the exact index unless the mode is "hnsw"."""
        self._faiss = None
        self._approximate = False
        self._removed, self._exclude_removed = set(), None
        if self.comparison in FAISS_COMPARISONS:
            self._faiss = self._new_faiss_index(approximate=self.search_config.mode == "hnsw")
        self._ids = np.zeros(0, dtype=np.int64)
        self._embeddings = np.zeros((0, self.embedding_dim), dtype=np.float32)

    def add(self, ids: np.ndarray, embeddings: np.ndarray) -> None:
        """Adds references under their storage ids (adding many at once builds HNSW graphs in parallel)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1, self.embedding_dim)
        if self._faiss is not None:
            config = self.search_config
            if config.mode == "auto" and not self._approximate and len(self) + len(ids) >= config.auto_threshold:
                self._switch_to_hnsw()
            self._faiss.add_with_ids(self._prepare(vectors), ids)
        else:
            self._ids = np.concatenate([self._ids, ids])
            self._embeddings = np.concatenate([self._embeddings, vectors])

    def remove(self, ids: list[int]) -> None:
        if not ids:
            return
        wanted = np.asarray(ids, dtype=np.int64)
        if self._approximate:
            self._removed.update(int(value) for value in wanted)
            # IDSelectorNot only points at the batch selector; keep both wrappers alive together.
            removed_ids = faiss.IDSelectorBatch(np.fromiter(self._removed, dtype=np.int64))
            self._exclude_removed = faiss.IDSelectorNot(removed_ids)
            self._exclude_removed_ids = removed_ids
        elif self._faiss is not None:
            self._faiss.remove_ids(wanted)  # type: ignore[arg-type]  # faiss wraps arrays into an IDSelector
        else:
            keep = ~np.isin(self._ids, wanted)
            self._ids, self._embeddings = self._ids[keep], self._embeddings[keep]

    def search(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The `count` best references for one query: `(ids, scores)`, best first, scores in model units."""
        count = min(count, len(self))
        if count == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vector = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.embedding_dim)
        if self._faiss is not None:
            parameters = None
            if self._approximate:
                # The candidate list must hold at least the results asked for.
                parameters = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]  # missing from faiss's stubs
                    efSearch=max(self.search_config.hnsw_ef_search, count), sel=self._exclude_removed
                )
            raw, ids = self._faiss.search(self._prepare(vector), count, params=parameters)
            found = ids[0] >= 0  # HNSW may return fewer than `count` (padded with -1)
            return ids[0][found].astype(np.int64), self._faiss_to_score(raw[0][found])
        return self._search_with_model(vector, count)

    def _new_faiss_index(self, approximate: bool) -> faiss.IndexIDMap2:
        config = self.search_config
        dim = self.embedding_dim
        inner: faiss.Index
        if approximate:
            metric = faiss.METRIC_INNER_PRODUCT if self.comparison == "cosine" else faiss.METRIC_L2
            hnsw = faiss.IndexHNSWFlat(dim, config.hnsw_neighbors, metric)
            hnsw.hnsw.efConstruction = config.hnsw_ef_construction
            hnsw.hnsw.efSearch = config.hnsw_ef_search
            inner = hnsw
        else:
            inner = faiss.IndexFlatIP(dim) if self.comparison == "cosine" else faiss.IndexFlatL2(dim)
        self._approximate = approximate
        # IndexIDMap2 does not own `inner`; keep its Python wrapper alive as long as the map.
        self._inner_index = inner
        return faiss.IndexIDMap2(inner)

    def _switch_to_hnsw(self) -> None:
        assert self._faiss is not None
        count = int(self._faiss.ntotal)
        # The flat index already holds prepared (unit, for cosine) vectors, so they move over as they are.
        vectors = self._faiss.index.reconstruct_n(0, count) if count else np.zeros((0, self.embedding_dim))
        ids = faiss.vector_to_array(self._faiss.id_map).astype(np.int64)
        self._faiss = self._new_faiss_index(approximate=True)
        if count:
            self._faiss.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        logger.info("gallery index switched to HNSW at %d references", count)

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        if self.comparison != "cosine":
            return vectors
        # Cosine distance is 1 - inner product of unit vectors; the same epsilon as the comparison itself.
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
        return np.ascontiguousarray(vectors / norms, dtype=np.float32)

    def _faiss_to_score(self, raw: np.ndarray) -> np.ndarray:
        if self.comparison == "cosine":
            return (1.0 - raw).astype(np.float32)
        squared = np.maximum(raw, 0.0)
        if self.comparison == "squared_euclidean":
            return squared.astype(np.float32)
        # The comparison clamps squared distances at 1e-12 before the square root; match it.
        return np.sqrt(np.maximum(squared, 1e-12)).astype(np.float32)

    def _search_with_model(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        query = torch.from_numpy(vector)
        scores = []
        for start in range(0, self._embeddings.shape[0], _FALLBACK_CHUNK):
            chunk = torch.from_numpy(self._embeddings[start : start + _FALLBACK_CHUNK])
            scores.append(self.model.pairwise_scores(query, chunk)[0].numpy())
        all_scores = np.concatenate(scores)
        ranking = -all_scores if self.higher_is_more_similar else all_scores
        # A stable sort keeps ties in enrolment order, like faiss's flat indexes.
        best = np.argsort(ranking, kind="stable")[:count]
        return self._ids[best], all_scores[best].astype(np.float32)
