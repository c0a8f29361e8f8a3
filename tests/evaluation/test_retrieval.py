"""Leave-one-out retrieval metrics, checked by hand and against a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import DataError
from siamkit.evaluation import retrieval
from siamkit.evaluation.retrieval import retrieval_metrics
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


def vector_model(comparison: str = "euclidean") -> SiameseModel:
    config = SiameseConfig(EncoderConfig("mlp", (2,), 2, {"hidden_dims": []}), ComparisonConfig(comparison))
    return SiameseModel(SiameseNetwork.from_config(config), PreprocessingConfig(kind="vector", vector_length=2))


def test_metrics_match_a_hand_count() -> None:
    # On a line: class 0 at 0, 1 and 5; class 1 at 1.8 and 3; class 2 alone at 10 (no query: nothing to find).
    points = torch.tensor([[0.0, 0], [1, 0], [5, 0], [1.8, 0], [3, 0], [10, 0]])
    labels = np.array([0, 0, 0, 1, 1, 2])
    result = retrieval_metrics(vector_model(), points, labels)
    # Each query's R nearest others (R = 2 for class 0, 1 for class 1), s = same class, d = different:
    #   0: [1 s, 1.8 d] -> P@1 1, R-precision 1/2, AP@R (1/1) / 2 = 0.5
    #   1: [1.8 d, 0 s] -> P@1 0, R-precision 1/2, AP@R (1/2) / 2 = 0.25
    #   5: [3 d, 1.8 d] -> 0, 0, 0
    #   1.8: [1 d] -> 0, 0, 0
    #   3: [1.8 s] -> 1, 1, 1
    assert result["n_queries"] == 5
    assert result["precision_at_1"] == pytest.approx(2 / 5)
    assert result["r_precision"] == pytest.approx((0.5 + 0.5 + 1) / 5)
    assert result["map_at_r"] == pytest.approx((0.5 + 0.25 + 1) / 5)


def test_precision_and_map_match_a_plain_loop() -> None:
    generator = np.random.default_rng(3)
    labels = generator.integers(0, 6, size=40)
    points = torch.tensor(generator.normal(size=(40, 2)) + labels[:, None] * 0.7, dtype=torch.float32)
    expected_p1, expected_rp, expected_map = [], [], []
    distances = torch.cdist(points.double(), points.double()).numpy()
    for query in range(40):
        relevant_count = int((labels == labels[query]).sum()) - 1
        if relevant_count == 0:
            continue
        order = [index for index in np.argsort(distances[query], kind="stable") if index != query]
        hits = [labels[index] == labels[query] for index in order[:relevant_count]]
        expected_p1.append(hits[0])
        expected_rp.append(sum(hits) / relevant_count)
        found, precisions = 0, []
        for rank, hit in enumerate(hits, start=1):
            found += hit
            precisions.append(found / rank if hit else 0.0)
        expected_map.append(sum(precisions) / relevant_count)
    result = retrieval_metrics(vector_model(), points, labels)
    assert result["precision_at_1"] == pytest.approx(np.mean(expected_p1))
    assert result["r_precision"] == pytest.approx(np.mean(expected_rp))
    assert result["map_at_r"] == pytest.approx(np.mean(expected_map))
    assert result["map_at_r"] <= result["r_precision"] + 1e-12


def test_chunks_and_similarity_direction_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = np.random.default_rng(4)
    labels = np.repeat(np.arange(5), 4)
    points = torch.tensor(generator.normal(size=(20, 2)) + labels[:, None], dtype=torch.float32)
    whole = retrieval_metrics(vector_model(), points, labels)
    monkeypatch.setattr(retrieval, "_QUERIES_PER_CHUNK", 3)
    assert retrieval_metrics(vector_model(), points, labels) == whole
    # Cosine scores run the other way (larger = closer); a perfect clustering scores 1 on every measure.
    directions = torch.tensor([[1.0, 0.01 * index] for index in range(4)] + [[0.01 * index, 1.0] for index in range(4)])
    perfect = retrieval_metrics(vector_model("cosine"), directions, np.repeat([0, 1], 4))
    assert perfect["precision_at_1"] == perfect["r_precision"] == perfect["map_at_r"] == 1.0


def test_a_set_of_single_images_is_refused() -> None:
    with pytest.raises(DataError, match="at least two images"):
        retrieval_metrics(vector_model(), torch.zeros(3, 2), np.array([0, 1, 2]))
