"""Supervised contrastive loss against a hand-written loop, and its place in in-batch training."""

from __future__ import annotations

import math

import pytest
import torch

from siamkit.comparisons import ComparisonConfig, create_comparison
from siamkit.errors import ConfigError
from siamkit.losses import SupervisedContrastiveLoss, create_loss
from siamkit.mining import in_batch_loss, pair_loss


def loop_supervised_contrastive(similarities: list[list[float]], labels: list[int], temperature: float) -> float:
    anchor_losses = []
    for anchor, row in enumerate(similarities):
        others = [index for index in range(len(row)) if index != anchor]
        positives = [index for index in others if labels[index] == labels[anchor]]
        if not positives:
            continue
        normaliser = sum(math.exp(row[index] / temperature) for index in others)
        terms = [math.log(math.exp(row[index] / temperature) / normaliser) for index in positives]
        anchor_losses.append(-sum(terms) / len(positives))
    return sum(anchor_losses) / len(anchor_losses)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_matches_the_loop(temperature: float) -> None:
    generator = torch.Generator().manual_seed(0)
    similarities = torch.rand(7, 7, generator=generator, dtype=torch.float64) * 2 - 1
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3])  # classes 2 and 3 have no positive: not anchors
    loss = create_loss("supervised_contrastive", temperature=temperature)
    expected = loop_supervised_contrastive(similarities.tolist(), labels.tolist(), temperature)
    assert loss(similarities, labels).item() == pytest.approx(expected, rel=1e-12)


def test_gradients_pull_positives_and_push_negatives_and_a_batch_without_positives_costs_nothing() -> None:
    similarities = torch.zeros(4, 4, dtype=torch.float64, requires_grad=True)
    loss = SupervisedContrastiveLoss(temperature=0.5)(similarities, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert similarities.grad is not None and torch.isfinite(similarities.grad).all()
    assert similarities.grad[0, 1] < 0 < similarities.grad[0, 2]  # descending raises s_01, lowers s_02
    assert similarities.grad[0, 0] == 0  # an item is never compared with itself
    alone = torch.zeros(3, 3, requires_grad=True)
    nothing = SupervisedContrastiveLoss()(alone, torch.tensor([0, 1, 2]))
    assert nothing.item() == 0.0
    nothing.backward()
    assert alone.grad is not None and torch.equal(alone.grad, torch.zeros(3, 3))
    with pytest.raises(ConfigError, match="temperature must be positive"):
        SupervisedContrastiveLoss(temperature=0.0)


def test_in_batch_training_feeds_it_the_comparison_s_similarities() -> None:
    embeddings = torch.nn.functional.normalize(torch.randn(8, 4, dtype=torch.float64), dim=1).requires_grad_()
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    comparison = create_comparison(ComparisonConfig("euclidean"), 4)
    loss = SupervisedContrastiveLoss(temperature=0.2)
    value = in_batch_loss(embeddings, labels, comparison, loss)
    expected = loss(-torch.cdist(embeddings, embeddings), labels)  # Euclidean similarity: the negated distance
    assert value.item() == pytest.approx(expected.item(), rel=1e-9)
    value.backward()
    assert embeddings.grad is not None and torch.isfinite(embeddings.grad).all()
    with pytest.raises(ConfigError, match="mines nothing"):
        in_batch_loss(embeddings, labels, comparison, loss, strategy="hard")
    with pytest.raises(ConfigError, match="not a learned head"):
        in_batch_loss(embeddings, labels, create_comparison(ComparisonConfig("learned_head"), 4), loss)
    with pytest.raises(ConfigError, match="needs class labels, not pairs"):
        pair_loss(embeddings[:2], embeddings[2:4], torch.tensor([1, 0]), comparison, loss)
