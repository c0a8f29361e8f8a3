"""`in_batch_loss`, `pair_loss` and `triplet_loss` against losses computed pair by pair in Python loops."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from siamkit.comparisons import (
    CosineDistance,
    EuclideanDistance,
    LearnedHead,
    MahalanobisDistance,
    SquaredEuclideanDistance,
)
from siamkit.errors import ConfigError, DataError
from siamkit.losses import BinaryCrossEntropyLoss, ContrastiveLoss, CosFaceLoss, DistanceRegressionLoss, TripletLoss
from siamkit.mining import check_objective, in_batch_loss, pair_loss, triplet_loss

LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def embeddings(count: int = 8, dimensions: int = 3) -> torch.Tensor:
    return torch.randn(count, dimensions, dtype=torch.float64, requires_grad=True)


def euclidean(first: list[float], second: list[float]) -> float:
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(first, second, strict=True)))


def squared_euclidean(first: list[float], second: list[float]) -> float:
    return sum((x - y) ** 2 for x, y in zip(first, second, strict=True))


def loop_contrastive(points: list[list[float]], pairs: list[tuple[int, int, int]], margin: float) -> float:
    total = 0.0
    for i, j, same in pairs:
        distance = euclidean(points[i], points[j])
        total += 0.5 * distance**2 if same else 0.5 * max(0.0, margin - distance) ** 2
    return total / len(pairs)


def loop_binary_cross_entropy(logits: list[float], labels: list[int]) -> float:
    total = 0.0
    for logit, label in zip(logits, labels, strict=True):
        probability = 1.0 / (1.0 + math.exp(-logit))
        total -= math.log(probability) if label else math.log(1.0 - probability)
    return total / len(logits)


def loop_triplet(distances: list[list[float]], triplets: list[tuple[int, int, int]], margin: float) -> float:
    return sum(max(0.0, distances[a][p] - distances[a][n] + margin) for a, p, n in triplets) / len(triplets)


@pytest.mark.parametrize("strategy", ["all", "hard", "multi_similarity"])
def test_contrastive_matches_the_loop(strategy, reference_pairs) -> None:
    points = embeddings()
    values = points.tolist()
    similarity = [[-euclidean(a, b) for b in values] for a in values]
    pairs = reference_pairs(LABELS.tolist(), similarity, strategy)
    loss = in_batch_loss(points, LABELS, EuclideanDistance(), ContrastiveLoss(margin=1.5), strategy)
    assert loss.item() == pytest.approx(loop_contrastive(values, pairs, 1.5), rel=1e-9)


@pytest.mark.parametrize("strategy", ["all", "hard", "semi_hard"])
def test_triplet_matches_the_loop(strategy, reference_triplets) -> None:
    points = embeddings()
    values = points.tolist()
    distances = [[squared_euclidean(a, b) for b in values] for a in values]
    triplets = reference_triplets(distances, LABELS.tolist(), strategy, 1.0)
    loss = in_batch_loss(points, LABELS, SquaredEuclideanDistance(), TripletLoss(margin=1.0), strategy)
    assert loss.item() == pytest.approx(loop_triplet(distances, triplets, 1.0), rel=1e-9)


def test_semi_hard_band_uses_the_loss_margin_unless_one_is_given(reference_triplets) -> None:
    points = embeddings()
    values = points.tolist()
    distances = [[squared_euclidean(a, b) for b in values] for a in values]
    comparison, loss = SquaredEuclideanDistance(), TripletLoss(margin=2.0)
    default = in_batch_loss(points, LABELS, comparison, loss, "semi_hard")
    triplets = reference_triplets(distances, LABELS.tolist(), "semi_hard", 2.0)
    assert default.item() == pytest.approx(loop_triplet(distances, triplets, 2.0), rel=1e-9)
    narrow = in_batch_loss(points, LABELS, comparison, loss, "semi_hard", margin=0.1)
    triplets = reference_triplets(distances, LABELS.tolist(), "semi_hard", 0.1)
    assert narrow.item() == pytest.approx(loop_triplet(distances, triplets, 2.0), rel=1e-9)
    assert narrow.item() != pytest.approx(default.item())


@pytest.mark.parametrize("strategy", ["all", "hard", "multi_similarity"])
def test_binary_cross_entropy_with_a_koch_head_matches_the_loop(strategy, reference_pairs) -> None:
    head = LearnedHead(3, hidden_dims=(), features=("absolute_difference",)).double()
    weights, bias = head.mlp[0].weight[0].tolist(), head.mlp[0].bias[0].item()
    points = embeddings()
    values = points.tolist()

    def logit(i: int, j: int) -> float:
        return sum(w * abs(x - y) for w, x, y in zip(weights, values[i], values[j], strict=True)) + bias

    # Mining reads the head's same-probabilities (the sigmoid of its logits), as users' thresholds do.
    similarity = [[1.0 / (1.0 + math.exp(-logit(i, j))) for j in range(8)] for i in range(8)]
    pairs = reference_pairs(LABELS.tolist(), similarity, strategy)
    expected = loop_binary_cross_entropy([logit(i, j) for i, j, _ in pairs], [same for _, _, same in pairs])
    loss = in_batch_loss(points, LABELS, head, BinaryCrossEntropyLoss(), strategy)
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_binary_cross_entropy_with_a_deep_head_matches_per_pair_calls(reference_pairs) -> None:
    head = LearnedHead(3, hidden_dims=(5,)).double()
    points = embeddings()
    pairs = reference_pairs(LABELS.tolist(), None, "all")
    logits = [head(points[i : i + 1], points[j : j + 1]).item() for i, j, _ in pairs]
    expected = loop_binary_cross_entropy(logits, [same for _, _, same in pairs])
    loss = in_batch_loss(points, LABELS, head, BinaryCrossEntropyLoss(), "all")
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert all(parameter.grad is not None and torch.isfinite(parameter.grad).all() for parameter in head.parameters())


@pytest.mark.parametrize(
    ("comparison", "loss", "strategy"),
    [
        (EuclideanDistance(), ContrastiveLoss(), "all"),
        (CosineDistance(), ContrastiveLoss(), "hard"),
        (SquaredEuclideanDistance(), TripletLoss(), "semi_hard"),
        (MahalanobisDistance(3), TripletLoss(), "hard"),
        (LearnedHead(3), BinaryCrossEntropyLoss(), "hard"),
        (EuclideanDistance(), ContrastiveLoss(), "multi_similarity"),
        (LearnedHead(3), BinaryCrossEntropyLoss(), "multi_similarity"),
    ],
)
def test_gradients_reach_embeddings_and_are_finite(comparison, loss, strategy) -> None:
    points = torch.randn(8, 3, requires_grad=True)
    in_batch_loss(points, LABELS, comparison, loss, strategy).backward()
    assert points.grad is not None
    assert torch.isfinite(points.grad).all() and points.grad.abs().sum() > 0


def test_identical_embeddings_give_finite_gradients() -> None:
    points = torch.zeros(4, 3, requires_grad=True)
    in_batch_loss(points, torch.tensor([0, 0, 1, 1]), EuclideanDistance(), ContrastiveLoss(), "all").backward()
    assert points.grad is not None and torch.isfinite(points.grad).all()


def test_chunk_size_does_not_change_the_loss() -> None:
    points = torch.randn(13, 4)
    labels = torch.randint(0, 3, (13,))
    for strategy in ("all", "hard", "semi_hard"):
        losses = [
            in_batch_loss(points, labels, EuclideanDistance(), TripletLoss(), strategy, chunk_size=size)
            for size in (1, 4, 64)
        ]
        assert torch.equal(losses[0], losses[1]) and torch.equal(losses[0], losses[2])


def test_single_class_batch_gives_a_differentiable_zero_and_a_warning(caplog) -> None:
    points = torch.randn(4, 3, requires_grad=True)
    with caplog.at_level(logging.WARNING, logger="siamkit.mining"):
        loss = in_batch_loss(points, torch.zeros(4, dtype=torch.long), EuclideanDistance(), TripletLoss(), "hard")
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert points.grad is not None and torch.equal(points.grad, torch.zeros(4, 3))
    assert "no triplets" in caplog.text


def test_single_item_batch_gives_a_zero_pair_loss_and_a_warning(caplog) -> None:
    points = torch.randn(1, 3, requires_grad=True)
    for comparison, loss in ((EuclideanDistance(), ContrastiveLoss()), (LearnedHead(3), BinaryCrossEntropyLoss())):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="siamkit.mining"):
            value = in_batch_loss(points, torch.tensor([2]), comparison, loss)
        assert value.item() == 0.0 and value.requires_grad
        assert "no pairs" in caplog.text


@pytest.mark.parametrize(
    ("comparison", "loss", "strategy", "message"),
    [
        (EuclideanDistance(), BinaryCrossEntropyLoss(), "all", "logits"),
        (LearnedHead(3), ContrastiveLoss(), "all", "distance"),
        (LearnedHead(3), TripletLoss(), "all", "distance"),
        (EuclideanDistance(), DistanceRegressionLoss(), "all", "target distances"),
        (EuclideanDistance(), ContrastiveLoss(), "semi_hard", "triplet"),
        (EuclideanDistance(), TripletLoss(), "easy", "mining strategy"),
        (EuclideanDistance(), TripletLoss(), "multi_similarity", "keeps pairs"),
        (EuclideanDistance(), CosFaceLoss(4, 3), "hard", "mines nothing"),
        (LearnedHead(3), CosFaceLoss(4, 3), "all", "distance"),
    ],
)
def test_incompatible_objectives_are_config_errors(comparison, loss, strategy, message) -> None:
    with pytest.raises(ConfigError, match=message):
        check_objective(comparison, loss, strategy)
    with pytest.raises(ConfigError, match=message):
        in_batch_loss(torch.randn(8, 3), LABELS, comparison, loss, strategy)


def test_class_proxy_losses_take_the_batch_as_it_is() -> None:
    points = embeddings(8).float()
    loss = CosFaceLoss(4, 3)
    assert torch.equal(in_batch_loss(points, LABELS, CosineDistance(), loss), loss(points, LABELS))
    with pytest.raises(ConfigError, match="class labels, not pairs"):
        pair_loss(points[:4], points[4:], torch.tensor([1, 0, 1, 0]), CosineDistance(), loss)


def test_bad_embedding_shapes_are_data_errors() -> None:
    with pytest.raises(DataError, match="embeddings"):
        in_batch_loss(torch.randn(7, 3), LABELS, EuclideanDistance(), ContrastiveLoss())
    with pytest.raises(DataError, match="embeddings"):
        in_batch_loss(torch.randn(8, 3, 1), LABELS, EuclideanDistance(), ContrastiveLoss())


def test_pair_loss_matches_the_loop() -> None:
    first, second = embeddings(5), embeddings(5)
    labels = torch.tensor([1, 0, 1, 0, 0])
    loss = pair_loss(first, second, labels, EuclideanDistance(), ContrastiveLoss(margin=2.0))
    points, pairs = first.tolist() + second.tolist(), [(i, 5 + i, int(labels[i])) for i in range(5)]
    assert loss.item() == pytest.approx(loop_contrastive(points, pairs, 2.0), rel=1e-9)


def test_pair_loss_regresses_target_distances() -> None:
    first, second = embeddings(4), embeddings(4)
    targets = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    loss = pair_loss(first, second, targets, EuclideanDistance(), DistanceRegressionLoss("absolute"))
    expected = sum(
        abs(euclidean(a, b) - t) for a, b, t in zip(first.tolist(), second.tolist(), targets.tolist(), strict=True)
    )
    assert loss.item() == pytest.approx(expected / 4, rel=1e-9)


def test_triplet_loss_matches_the_loop() -> None:
    anchor, positive, negative = embeddings(5), embeddings(5), embeddings(5)
    loss = triplet_loss(anchor, positive, negative, EuclideanDistance(), TripletLoss(margin=0.7))
    expected = sum(
        max(0.0, euclidean(a, p) - euclidean(a, n) + 0.7)
        for a, p, n in zip(anchor.tolist(), positive.tolist(), negative.tolist(), strict=True)
    )
    assert loss.item() == pytest.approx(expected / 5, rel=1e-9)
    loss.backward()
    assert anchor.grad is not None and torch.isfinite(anchor.grad).all()


def test_explicit_losses_refuse_mismatches() -> None:
    points = torch.randn(4, 3)
    labels = torch.tensor([1, 0, 1, 0])
    with pytest.raises(ConfigError, match="triplets"):
        pair_loss(points, points, labels, EuclideanDistance(), TripletLoss())
    with pytest.raises(ConfigError, match="logits"):
        pair_loss(points, points, labels, EuclideanDistance(), BinaryCrossEntropyLoss())
    with pytest.raises(ConfigError, match="distance"):
        pair_loss(points, points, labels.double(), LearnedHead(3), DistanceRegressionLoss())
    with pytest.raises(ConfigError, match="not triplets"):
        triplet_loss(points, points, points, EuclideanDistance(), ContrastiveLoss())
    with pytest.raises(ConfigError, match="distance"):
        triplet_loss(points, points, points, LearnedHead(3), TripletLoss())
    with pytest.raises(DataError, match="pair loss"):
        pair_loss(points, points[:3], labels, EuclideanDistance(), ContrastiveLoss())
    with pytest.raises(DataError, match="triplet loss"):
        triplet_loss(points, points, points[:2], EuclideanDistance(), TripletLoss())
