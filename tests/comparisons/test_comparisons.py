"""Every registered comparison: shapes, consistency, symmetry, gradients, save/reload; distances against numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import siamkit
from siamkit.comparisons import COMPARISONS, Comparison, ComparisonConfig, LearnedHead, create_comparison
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.network import SiameseConfig, SiameseNetwork

DIMENSIONS = 5

# Options that keep each comparison small; a newly registered comparison needs an entry (see the first test).
COMPARISON_OPTIONS: dict[str, dict[str, Any]] = {
    "euclidean": {},
    "squared_euclidean": {},
    "manhattan": {},
    "cosine": {},
    "mahalanobis": {},
    "learned_head": {"hidden_dims": [8]},
}

# Distances of one pair of float64 vectors, written out with numpy.
NUMPY_DISTANCES = {
    "euclidean": lambda a, b: np.sqrt(np.sum((a - b) ** 2)),
    "squared_euclidean": lambda a, b: np.sum((a - b) ** 2),
    "manhattan": lambda a, b: np.sum(np.abs(a - b)),
    "cosine": lambda a, b: 1.0 - np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)),
    "mahalanobis": lambda a, b: np.sqrt(np.sum((a - b) ** 2)),  # starts as the identity map
}


def build(name: str) -> Comparison:
    return create_comparison(ComparisonConfig(name, COMPARISON_OPTIONS[name]), DIMENSIONS).double()


def perturb(module: torch.nn.Module) -> None:
    """Moves every parameter off its initial value, so reload tests cannot pass by re-initialising."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))


def test_every_registered_comparison_has_a_test_case() -> None:
    assert set(COMPARISONS.names()) == set(COMPARISON_OPTIONS)


@pytest.mark.parametrize("name", COMPARISONS.names())
def test_shapes_and_finite_values(name) -> None:
    comparison = build(name)
    first, second = torch.randn(7, DIMENSIONS, dtype=torch.float64), torch.randn(7, DIMENSIONS, dtype=torch.float64)
    scores = comparison(first, second)
    assert scores.shape == (7,) and torch.isfinite(scores).all()
    matrix = comparison.pairwise(first, second[:4])
    assert matrix.shape == (7, 4) and torch.isfinite(matrix).all()
    assert comparison.pairwise(first[:0], second).shape == (0, 7)


@pytest.mark.parametrize("name", COMPARISONS.names())
def test_pairwise_agrees_with_forward_on_every_pair(name) -> None:
    comparison = build(name)
    perturb(comparison)
    first, second = torch.randn(6, DIMENSIONS, dtype=torch.float64), torch.randn(4, DIMENSIONS, dtype=torch.float64)
    matrix = comparison.pairwise(first, second)
    for i in range(6):
        for j in range(4):
            single = comparison(first[i : i + 1], second[j : j + 1])[0]
            assert matrix[i, j].item() == pytest.approx(single.item(), rel=1e-9, abs=1e-9)
    # The diagonal of a square pairwise matrix is forward on row-aligned pairs.
    square = comparison.pairwise(first[:4], second)
    assert torch.allclose(torch.diagonal(square), comparison(first[:4], second), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", COMPARISONS.names())
def test_symmetric(name) -> None:
    comparison = build(name)
    perturb(comparison)
    first, second = torch.randn(6, DIMENSIONS, dtype=torch.float64), torch.randn(6, DIMENSIONS, dtype=torch.float64)
    assert torch.allclose(comparison(first, second), comparison(second, first), rtol=1e-12, atol=1e-12)
    assert torch.allclose(comparison.pairwise(first, second), comparison.pairwise(second, first).T, atol=1e-9)


@pytest.mark.parametrize("name", COMPARISONS.names())
def test_gradients_are_finite_for_inputs_and_every_parameter(name) -> None:
    comparison = build(name)
    first = torch.randn(6, DIMENSIONS, dtype=torch.float64, requires_grad=True)
    second = first.detach().clone()
    second[3:] = torch.randn(3, DIMENSIONS, dtype=torch.float64)  # identical pairs included: sqrt at 0
    second.requires_grad_()
    (comparison(first, second).sum() + comparison.pairwise(first, second).sum()).backward()
    for tensor in (first, second, *comparison.parameters()):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


@pytest.mark.parametrize("name", COMPARISONS.names())
def test_similarity_and_decide_follow_higher_is_more_similar(name) -> None:
    comparison = build(name)
    raw = torch.randn(9, dtype=torch.float64)
    score = comparison.to_score(raw)
    similarity = comparison.similarity(raw)
    direction = 1.0 if comparison.higher_is_more_similar else -1.0
    assert torch.equal(torch.argsort(similarity), torch.argsort(direction * score))
    threshold = float(score.median())
    expected = score >= threshold if comparison.higher_is_more_similar else score <= threshold
    assert torch.equal(comparison.decide(score, threshold), expected)


@pytest.mark.parametrize("name", [name for name in COMPARISONS.names() if name in NUMPY_DISTANCES])
def test_identical_inputs_are_the_most_alike_for_distances(name) -> None:
    comparison = build(name)
    assert not comparison.higher_is_more_similar and not comparison.outputs_logits
    points = torch.randn(6, DIMENSIONS, dtype=torch.float64)
    matrix = comparison.pairwise(points, points)
    assert torch.equal(matrix.argmin(dim=1), torch.arange(6))
    assert comparison(points, points).abs().max() < 1e-5


@pytest.mark.parametrize("name", list(NUMPY_DISTANCES))
def test_distances_match_numpy(name) -> None:
    comparison = build(name)
    first, second = np.random.default_rng(1).normal(size=(2, 5, DIMENSIONS))
    reference = np.array([[NUMPY_DISTANCES[name](a, b) for b in second] for a in first])
    first_tensor, second_tensor = torch.from_numpy(first), torch.from_numpy(second)
    np.testing.assert_allclose(
        comparison(first_tensor, second_tensor).detach().numpy(), np.diagonal(reference), rtol=1e-10
    )
    np.testing.assert_allclose(comparison.pairwise(first_tensor, second_tensor).detach().numpy(), reference, rtol=1e-8)


def test_koch_head_is_a_sigmoid_of_a_weighted_l1_distance() -> None:
    head = LearnedHead(DIMENSIONS, hidden_dims=(), features=("absolute_difference",)).double()
    first, second = np.random.default_rng(2).normal(size=(2, 4, DIMENSIONS))
    weights = head.mlp[0].weight.detach().numpy()[0]
    bias = head.mlp[0].bias.detach().numpy()[0]
    expected = [1.0 / (1.0 + np.exp(-(weights @ np.abs(a - b) + bias))) for a, b in zip(first, second, strict=True)]
    raw = head(torch.from_numpy(first), torch.from_numpy(second))
    np.testing.assert_allclose(head.to_score(raw).detach().numpy(), expected, rtol=1e-12)
    assert head.higher_is_more_similar and head.outputs_logits


def test_head_with_both_features_is_linear_in_them_without_hidden_layers() -> None:
    head = LearnedHead(DIMENSIONS, hidden_dims=()).double()
    first, second = np.random.default_rng(3).normal(size=(2, 4, DIMENSIONS))
    weights = head.mlp[0].weight.detach().numpy()[0]
    bias = head.mlp[0].bias.detach().numpy()[0]
    expected = [weights @ np.concatenate([np.abs(a - b), a * b]) + bias for a, b in zip(first, second, strict=True)]
    raw = head(torch.from_numpy(first), torch.from_numpy(second))
    np.testing.assert_allclose(raw.detach().numpy(), expected, rtol=1e-12)


def test_a_head_that_penalises_differences_scores_identical_inputs_highest() -> None:
    head = LearnedHead(DIMENSIONS, hidden_dims=(), features=("absolute_difference",)).double()
    with torch.no_grad():
        head.mlp[0].weight.copy_(-torch.rand(1, DIMENSIONS, dtype=torch.float64) - 0.1)
    points = torch.randn(6, DIMENSIONS, dtype=torch.float64)
    scores = head.to_score(head.pairwise(points, points))
    assert torch.equal(scores.argmax(dim=1), torch.arange(6))
    assert torch.equal(head.similarity(head.pairwise(points, points)).argmax(dim=1), torch.arange(6))


def test_mahalanobis_starts_as_euclidean_and_follows_its_matrix() -> None:
    points, others = torch.randn(5, DIMENSIONS), torch.randn(4, DIMENSIONS)
    mahalanobis, euclidean = create_comparison(ComparisonConfig("mahalanobis"), DIMENSIONS), build("euclidean")
    assert torch.allclose(mahalanobis(points, others[:1].expand(5, -1)), euclidean(points, others[:1].expand(5, -1)))
    assert torch.allclose(mahalanobis.pairwise(points, others), euclidean.pairwise(points, others), atol=1e-6)
    low_rank = create_comparison(ComparisonConfig("mahalanobis", {"projection_dim": 2}), DIMENSIONS)
    truncated = euclidean.pairwise(points[:, :2], others[:, :2])
    assert torch.allclose(low_rank.pairwise(points, others), truncated, atol=1e-6)
    perturb(mahalanobis)
    matrix = mahalanobis.projection.weight.detach().numpy()
    anchors = others[:1].expand(5, -1)
    expected = [np.linalg.norm(matrix @ (a - b)) for a, b in zip(points.numpy(), anchors.numpy(), strict=True)]
    np.testing.assert_allclose(mahalanobis(points, anchors).detach().numpy(), expected, rtol=1e-5)


def vector_model(name: str) -> siamkit.SiameseModel:
    """A small MLP on 6-long vectors with the comparison `name`, its weights moved off their initial values."""
    config = SiameseConfig(
        encoder=EncoderConfig("mlp", (6,), DIMENSIONS, {"hidden_dims": [8]}),
        comparison=ComparisonConfig(name, COMPARISON_OPTIONS[name]),
    )
    network = SiameseNetwork.from_config(config)
    perturb(network.comparison)
    return siamkit.SiameseModel(network, PreprocessingConfig(kind="vector", vector_length=6))


@pytest.mark.parametrize("name", COMPARISONS.names())
def test_save_and_reload_give_bit_identical_scores(name, tmp_path: Path) -> None:
    model = vector_model(name)
    first, second = model.embed(torch.randn(5, 6)), model.embed(torch.randn(3, 6))
    model.save(tmp_path / "bundle")
    loaded = siamkit.load(tmp_path / "bundle")
    assert torch.equal(loaded.pairwise_scores(first, second), model.pairwise_scores(first, second))
    assert torch.equal(loaded.score_embeddings(first[:3], second), model.score_embeddings(first[:3], second))
    assert loaded.fingerprint == model.fingerprint


@pytest.mark.parametrize("name", COMPARISONS.names())
def test_onnx_export_scores_as_pytorch_does(name, tmp_path: Path) -> None:
    from siamkit.export import OnnxModel, export_onnx

    model = vector_model(name)
    export_onnx(model, tmp_path / "export")
    exported = OnnxModel(tmp_path / "export")
    first, second = torch.randn(9, 6), torch.randn(9, 6)
    expected = model.score_embeddings(model.embed(first), model.embed(second)).numpy()
    actual = exported.score_embeddings(exported.embed(first.numpy()), exported.embed(second.numpy()))
    assert actual.shape == (9,)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    assert exported.higher_is_more_similar == model.higher_is_more_similar
