"""Claim scorings checked against the pair scores combined by hand, for distances and similarities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError
from siamkit.gallery.claims import CLAIM_SCORINGS, ClaimPolicy, claim_scores
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


def unit_model(comparison: str) -> SiameseModel:
    """A model with L2-normalised 4-d embeddings; the scorings are applied to embeddings given directly."""
    config = SiameseConfig(
        EncoderConfig("mlp", (4,), 4, {"hidden_dims": []}), ComparisonConfig(comparison), normalize_embeddings=True
    )
    return SiameseModel(SiameseNetwork.from_config(config), PreprocessingConfig(kind="vector", vector_length=4))


def unit_rows(generator: np.random.Generator, count: int) -> np.ndarray:
    rows = generator.normal(size=(count, 4))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def pair_score(model: SiameseModel, first: np.ndarray, second: np.ndarray) -> float:
    """One pair scored on its own, as `siamkit verify` scores it."""
    return float(model.score_embeddings(torch.from_numpy(first[None]), torch.from_numpy(second[None]))[0])


def test_pair_scores_are_what_the_comparisons_define() -> None:
    first, second = unit_rows(np.random.default_rng(3), 2)
    assert pair_score(unit_model("euclidean"), first, second) == pytest.approx(np.linalg.norm(first - second), abs=1e-6)
    assert pair_score(unit_model("cosine"), first, second) == pytest.approx(1 - first @ second, abs=1e-6)


@pytest.mark.parametrize("comparison", ["euclidean", "cosine", "learned_head"])
def test_scorings_match_the_pair_scores_combined_by_hand(comparison: str) -> None:
    model = unit_model(comparison)
    assert model.higher_is_more_similar == (comparison == "learned_head")  # both directions of "best" are covered
    generator = np.random.default_rng(0)
    queries, references = unit_rows(generator, 5), unit_rows(generator, 3)
    pairs = np.array([[pair_score(model, query, reference) for reference in references] for query in queries])
    centroid = references.astype(np.float64).mean(axis=0)
    centroid /= np.linalg.norm(centroid)  # the model's embeddings are unit length, so the centroid is made so
    expected = {
        "mean": pairs.mean(axis=1),
        "best": pairs.max(axis=1) if model.higher_is_more_similar else pairs.min(axis=1),
        "centroid": np.array([pair_score(model, query, centroid.astype(np.float32)) for query in queries]),
    }
    for scoring in CLAIM_SCORINGS:
        np.testing.assert_allclose(claim_scores(model, queries, references, scoring), expected[scoring], atol=1e-5)


def test_with_one_reference_every_scoring_is_the_pair_score() -> None:
    model = unit_model("euclidean")
    generator = np.random.default_rng(1)
    queries, reference = unit_rows(generator, 4), unit_rows(generator, 1)
    pair = model.pairwise_scores(torch.from_numpy(queries), torch.from_numpy(reference))[:, 0].numpy()
    for scoring in CLAIM_SCORINGS:
        np.testing.assert_allclose(claim_scores(model, queries, reference, scoring), pair, atol=1e-6)


def test_bad_scorings_and_empty_references_are_refused() -> None:
    model = unit_model("euclidean")
    queries = unit_rows(np.random.default_rng(2), 2)
    with pytest.raises(ConfigError, match=r"claim scoring must be one of \('mean', 'best', 'centroid'\), got 'max'"):
        claim_scores(model, queries, queries, "max")
    with pytest.raises(ConfigError, match="K >= 1"):
        claim_scores(model, queries, np.zeros((0, 4), dtype=np.float32), "mean")


def test_a_claim_policy_round_trips_through_the_settings_rows_and_defaults_for_old_galleries() -> None:
    policy = ClaimPolicy("centroid", 0.123456789)
    assert ClaimPolicy.from_settings(policy.to_settings()) == policy
    assert ClaimPolicy.from_settings(ClaimPolicy().to_settings()) == ClaimPolicy("mean", None)
    assert ClaimPolicy.from_settings({}) == ClaimPolicy("mean", None)  # a gallery written before claim policies
    assert policy.threshold_for("centroid") == 0.123456789 and policy.threshold_for("mean") is None
    with pytest.raises(ConfigError, match="claim scoring must be one of"):
        ClaimPolicy("nearest")
    with pytest.raises(ConfigError, match="claim threshold must be a finite number"):
        ClaimPolicy("best", float("nan"))
