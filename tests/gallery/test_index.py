"""Approximate (HNSW) gallery search: agrees with exact search, keeps model units, persists, switches on size."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from siamkit.errors import ConfigError
from siamkit.gallery import Gallery, GalleryError
from siamkit.gallery.index import ReferenceIndex
from siamkit.gallery.search_config import SearchConfig
from siamkit.model import SiameseModel

from .flattening_model import flattening_model

DIM = 16


def flatten_model(comparison: str) -> SiameseModel:
    """A model whose embeddings are its flattened 4x4 inputs, so scores are plain distances."""
    return flattening_model(4, 4, comparison)


def clustered(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` references around 50 centres, and noisy copies of the first (up to) 500 as queries."""
    generator = np.random.default_rng(seed)
    centres = generator.normal(size=(50, DIM)) * 3.0
    references = centres[generator.integers(0, 50, size=count)] + generator.normal(size=(count, DIM))
    queries = references[:500] + generator.normal(size=references[:500].shape) * 0.05
    return references.astype(np.float32), queries.astype(np.float32)


@pytest.mark.parametrize("comparison", ["euclidean", "squared_euclidean", "cosine"])
def test_hnsw_agrees_with_exact_search_in_model_units(comparison: str) -> None:
    model = flatten_model(comparison)
    references, queries = clustered(5000, seed=3)
    ids = np.arange(10, 10 + len(references), dtype=np.int64)
    exact = ReferenceIndex(model, comparison, DIM)
    approximate = ReferenceIndex(model, comparison, DIM, SearchConfig(mode="hnsw", hnsw_ef_search=64))
    assert approximate.approximate and not exact.approximate
    for index in (exact, approximate):
        index.add(ids, references)
        assert len(index) == len(references)

    agreeing = 0
    for query in queries:
        exact_ids, exact_scores = exact.search(query, 10)
        approximate_ids, approximate_scores = approximate.search(query, 10)
        if approximate_ids[0] == exact_ids[0]:
            agreeing += 1
            assert approximate_scores[0] == pytest.approx(exact_scores[0], rel=1e-5, abs=1e-5)
        # Scores are in model units: the model's own score for each returned reference.
        positions = approximate_ids - 10
        expected = model.score_embeddings(
            torch.from_numpy(np.repeat(query[None], len(positions), axis=0)), torch.from_numpy(references[positions])
        ).numpy()
        np.testing.assert_allclose(approximate_scores, expected, rtol=1e-4, atol=1e-4)
        assert list(approximate_scores) == sorted(approximate_scores, reverse=model.higher_is_more_similar)
    assert agreeing / len(queries) >= 0.99


def test_hnsw_filters_removed_references() -> None:
    model = flatten_model("euclidean")
    references, _ = clustered(300, seed=4)
    index = ReferenceIndex(model, "euclidean", DIM, SearchConfig(mode="hnsw"))
    index.add(np.arange(len(references)), references)
    nearest, _ = index.search(references[7], 1)
    assert nearest.tolist() == [7]

    index.remove([7, 8])
    assert len(index) == len(references) - 2
    ids, _ = index.search(references[7], 300)
    assert 7 not in ids.tolist() and 8 not in ids.tolist()
    assert len(ids) == len(references) - 2


def test_auto_switches_to_hnsw_past_the_threshold(tmp_path: Path) -> None:
    model = flatten_model("cosine")
    references, queries = clustered(400, seed=5)
    search = SearchConfig(mode="auto", auto_threshold=250)
    with Gallery.create(tmp_path / "g.sqlite", model, search=search) as gallery:
        gallery.enrol_many([(f"id-{position}", references[position : position + 1], None) for position in range(200)])
        assert not gallery.index.approximate
        gallery.enrol_many(
            [(f"id-{position}", references[position : position + 1], None) for position in range(200, 400)]
        )
        assert gallery.index.approximate and len(gallery.index) == 400
        result = gallery.identify(embedding=queries[3], top_k=3, threshold=1.0)
        assert result.identity == "id-3"


def test_search_setting_persists_across_reopen_and_can_be_overridden(tmp_path: Path) -> None:
    model = flatten_model("euclidean")
    references, queries = clustered(200, seed=6)
    path = tmp_path / "g.sqlite"
    search = SearchConfig(mode="hnsw", hnsw_ef_search=40, hnsw_ef_construction=100)
    with Gallery.create(path, model, search=search) as gallery:
        gallery.enrol_many([(f"id-{position}", references[position : position + 1], None) for position in range(200)])

    with Gallery.open(path, model) as gallery:
        assert gallery.settings.search == search
        assert gallery.index.approximate and len(gallery.index) == 200
        assert gallery.identify(embedding=queries[9], threshold=10.0).identity == "id-9"
        gallery.remove("id-9")
        assert gallery.identify(embedding=queries[9], top_k=2).candidates[0][0] != "id-9"

    with Gallery.open(path, model, search=SearchConfig(mode="exact")) as gallery:
        assert not gallery.index.approximate and len(gallery.index) == 199
    with Gallery.open(path, model) as gallery:  # the override was for that session only
        assert gallery.index.approximate


def test_invalid_search_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="search mode must be one of"):
        SearchConfig(mode="fast")
    with pytest.raises(ConfigError, match="hnsw_ef_search"):
        SearchConfig(hnsw_ef_search=0)
    with pytest.raises(ConfigError, match="'hnsw' needs a"):
        Gallery.create(tmp_path / "m.sqlite", flatten_model("manhattan"), search=SearchConfig(mode="hnsw"))
    assert not (tmp_path / "m.sqlite").exists()
    # "auto" with a comparison faiss cannot express stays exact with the model's own scores.
    with Gallery.create(tmp_path / "a.sqlite", flatten_model("manhattan"), search=SearchConfig(mode="auto")) as gallery:
        assert not gallery.index.uses_faiss

    path = tmp_path / "g.sqlite"
    Gallery.create(path, flatten_model("euclidean")).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE gallery_settings SET value = 'fast' WHERE key = 'search'")
    connection.close()
    with pytest.raises(GalleryError, match="malformed"):
        Gallery.open(path, flatten_model("euclidean"))
