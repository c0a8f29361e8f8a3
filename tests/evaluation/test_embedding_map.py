"""The embedding map: which classes it draws, how it keeps neighbours together, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

import siamkit.evaluation.embedding_map as embedding_map_module
from siamkit.errors import ConfigError, DataError
from siamkit.evaluation.embedding_map import MAX_MAP_IMAGES, choose_map_classes, map_embeddings


def clusters(classes: int, per_class: int, dimensions: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tight, far-apart clusters: one per class."""
    generator = np.random.default_rng(seed)
    centres = generator.normal(0.0, 10.0, size=(classes, dimensions))
    labels = np.repeat(np.arange(classes), per_class)
    return centres[labels] + generator.normal(0.0, 0.1, size=(labels.shape[0], dimensions)), labels


def test_preferred_classes_come_first_then_the_rest_by_index() -> None:
    labels = np.array([0, 1, 2, 3, 4, 4])
    assert choose_map_classes(labels, 3, preferred=[4, 9, 4, 2]) == [4, 2, 0]  # 9 absent, 4 once
    assert choose_map_classes(labels, 10) == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="max_classes must be at least 1"):
        choose_map_classes(labels, 0)


def test_each_class_stays_an_island_and_only_the_chosen_classes_are_drawn() -> None:
    embeddings, labels = clusters(classes=6, per_class=12)
    marked = np.arange(labels.shape[0]) % 4 == 0
    mapping = map_embeddings(embeddings, labels, marked, max_classes=4, preferred_classes=[5])
    assert mapping.method == "t-SNE"
    assert mapping.classes == (5, 0, 1, 2) and sorted(set(mapping.labels.tolist())) == [0, 1, 2, 5]
    assert mapping.points.shape == (4 * 12, 2) and np.isfinite(mapping.points).all()
    np.testing.assert_array_equal(mapping.marked, marked[np.isin(labels, [0, 1, 2, 5])])
    # every point's nearest other point on the map belongs to its own class
    distances = np.linalg.norm(mapping.points[:, None] - mapping.points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert (mapping.labels[distances.argmin(axis=1)] == mapping.labels).all()


def test_the_map_is_the_same_for_the_same_seed() -> None:
    embeddings, labels = clusters(classes=3, per_class=8)
    first = map_embeddings(embeddings, labels, seed=3)
    np.testing.assert_allclose(first.points, map_embeddings(embeddings, labels, seed=3).points)
    assert not first.marked.any()


def test_a_handful_of_images_falls_back_to_the_principal_plane() -> None:
    embeddings = np.array([[-2.0, 0.0, 5.0], [2.0, 0.0, 5.0], [0.0, 1.0, 5.0], [0.0, -1.0, 5.0]])
    mapping = map_embeddings(embeddings, np.array([0, 0, 1, 1]))
    assert mapping.method == "PCA"
    # centred already but for the constant third coordinate; the first axis is the wider spread (x), the
    # second the narrower (y); an axis's sign is free
    np.testing.assert_allclose(np.abs(mapping.points), np.abs(embeddings[:, :2]), atol=1e-12)


def test_too_many_images_are_thinned_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 500 <= MAX_MAP_IMAGES <= 2000  # a picture worth drawing, in seconds
    monkeypatch.setattr(embedding_map_module, "MAX_MAP_IMAGES", 30)  # the same rule, quicker to run
    embeddings, labels = clusters(classes=2, per_class=25, dimensions=4)
    mapping = map_embeddings(embeddings, labels)
    assert mapping.points.shape == (30, 2) and set(mapping.labels.tolist()) == {0, 1}


@pytest.mark.parametrize(
    ("embeddings", "labels", "message"),
    [
        (np.zeros((3, 2)), np.array([0, 1]), "one label and one mark each"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), np.array([0, 1]), "NaN or infinite"),
        (np.zeros((1, 2)), np.array([0]), "at least 2 images"),
    ],
)
def test_bad_input_is_named(embeddings: np.ndarray, labels: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message):
        map_embeddings(embeddings, labels)
