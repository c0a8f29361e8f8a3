"""Multi-similarity loss against a hand-written loop, its mining step, and its place in in-batch training."""

from __future__ import annotations

import math

import pytest
import torch

from siamkit.comparisons import ComparisonConfig, create_comparison
from siamkit.errors import ConfigError
from siamkit.losses import MultiSimilarityLoss, create_loss
from siamkit.mining import in_batch_loss
from siamkit.mining.signature_pairs import signature_in_batch_loss


def loop_multi_similarity(
    vectors: list[list[float]], labels: list[int], alpha: float, beta: float, base: float, epsilon: float | None
) -> float:
    def cosine(first: list[float], second: list[float]) -> float:
        dot = sum(a * b for a, b in zip(first, second, strict=True))
        return dot / math.sqrt(sum(a * a for a in first) * sum(b * b for b in second))

    anchor_losses = []
    for anchor, vector in enumerate(vectors):
        others = [index for index in range(len(vectors)) if index != anchor]
        positives = {index: cosine(vector, vectors[index]) for index in others if labels[index] == labels[anchor]}
        negatives = {index: cosine(vector, vectors[index]) for index in others if labels[index] != labels[anchor]}
        if not positives:
            continue
        if epsilon is not None:
            hardest_negative = max(negatives.values(), default=-math.inf)
            least_positive = min(positives.values())
            negatives = {index: s for index, s in negatives.items() if s + epsilon > least_positive}
            positives = {index: s for index, s in positives.items() if s - epsilon < hardest_negative}
        pull = math.log(1 + sum(math.exp(-alpha * (s - base)) for s in positives.values())) / alpha
        push = math.log(1 + sum(math.exp(beta * (s - base)) for s in negatives.values())) / beta
        anchor_losses.append(pull + push)
    return sum(anchor_losses) / len(anchor_losses)


@pytest.mark.parametrize(
    ("alpha", "beta", "base", "epsilon"),
    [(2.0, 50.0, 0.5, 0.1), (2.0, 50.0, 0.5, None), (1.0, 10.0, 0.0, 0.3), (4.0, 40.0, 0.8, 0.0)],
)
def test_matches_the_loop(alpha: float, beta: float, base: float, epsilon: float | None) -> None:
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(9, 5, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3, 4])  # classes 3 and 4 have no positive: not anchors
    loss = create_loss("multi_similarity", alpha=alpha, beta=beta, base=base, epsilon=epsilon)
    expected = loop_multi_similarity(embeddings.tolist(), labels.tolist(), alpha, beta, base, epsilon)
    assert loss(embeddings, labels).item() == pytest.approx(expected, rel=1e-12)


def test_mining_drops_easy_pairs_and_their_gradients() -> None:
    # Anchor 0: positive 1 is alike (cosine 1), positive 2 less so; negative 3 is orthogonal (cosine 0, far
    # below every positive, so mined out), negative 4 is as alike as positive 2 (kept).
    embeddings = torch.tensor(
        [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0]], dtype=torch.float64
    ).requires_grad_()
    labels = torch.tensor([0, 0, 0, 1, 2])
    MultiSimilarityLoss(epsilon=0.1)(embeddings, labels).backward()
    assert embeddings.grad is not None
    # Item 3 is every anchor's easy negative (cosine 0 against positives at 0.6 or more): no gradient reaches it.
    assert torch.equal(embeddings.grad[3], torch.zeros(3, dtype=torch.float64))
    embeddings.grad = None
    MultiSimilarityLoss(epsilon=None)(embeddings, labels).backward()
    assert embeddings.grad is not None and embeddings.grad[3].abs().sum() > 0  # without mining it counts


def test_gradients_pull_positives_together_and_push_negatives_apart() -> None:
    # The positive and the negative both at cosine 0.8 from the anchor, off along different axes.
    embeddings = torch.tensor(
        [[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.8, 0.0, 0.6]], dtype=torch.float64, requires_grad=True
    )
    labels = torch.tensor([0, 0, 1])
    loss = MultiSimilarityLoss(epsilon=None)
    before = loss(embeddings, labels)
    before.backward()
    assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()
    with torch.no_grad():
        stepped = embeddings - 0.05 * embeddings.grad
    assert loss(stepped, labels) < before
    unit = torch.nn.functional.normalize(stepped, dim=1)
    original = torch.nn.functional.normalize(embeddings.detach(), dim=1)
    assert unit[0] @ unit[1] > original[0] @ original[1]  # the positive pair grew more alike
    assert unit[0] @ unit[2] < original[0] @ original[2]  # the negative pair less


def test_scale_does_not_matter_and_a_batch_without_positives_costs_nothing() -> None:
    embeddings = torch.randn(6, 4, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = MultiSimilarityLoss()
    assert loss(embeddings * 7.0, labels).item() == pytest.approx(loss(embeddings, labels).item(), rel=1e-12)
    alone = torch.randn(3, 4, requires_grad=True)
    nothing = loss(alone, torch.tensor([0, 1, 2]))
    assert nothing.item() == 0.0
    nothing.backward()
    assert alone.grad is not None and torch.equal(alone.grad, torch.zeros(3, 4))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha": 0.0}, "alpha and beta must be positive"),
        ({"beta": -1.0}, "alpha and beta must be positive"),
        ({"base": 1.5}, "base is a cosine"),
        ({"epsilon": -0.1}, "epsilon must be at least 0"),
    ],
)
def test_bad_settings_are_refused_by_name(options: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_loss("multi_similarity", **options)


def test_in_batch_and_signature_training_feed_it_the_embeddings() -> None:
    embeddings = torch.nn.functional.normalize(torch.randn(8, 4, dtype=torch.float64), dim=1).requires_grad_()
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    comparison = create_comparison(ComparisonConfig("euclidean"), 4)
    loss = MultiSimilarityLoss()
    value = in_batch_loss(embeddings, labels, comparison, loss)
    assert value.item() == pytest.approx(loss(embeddings, labels).item(), rel=1e-12)
    value.backward()
    assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()
    with pytest.raises(ConfigError, match="mines nothing"):
        in_batch_loss(embeddings, labels, comparison, loss, strategy="hard")
    # Signatures: two writers, two genuine and two forgeries each; forgeries are only ever negatives.
    writers = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    genuine = torch.tensor([True, True, False, False, True, True, False, False])
    forgery_labels = torch.tensor([0, 0, 2, 3, 1, 1, 4, 5])
    expected = loss(embeddings.detach(), forgery_labels)
    assert signature_in_batch_loss(embeddings.detach(), writers, genuine, comparison, loss).item() == pytest.approx(
        expected.item(), rel=1e-12
    )
