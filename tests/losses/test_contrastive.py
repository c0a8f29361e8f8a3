"""Contrastive loss against a hand-written loop."""

from __future__ import annotations

import pytest
import torch

from siamkit.errors import ConfigError
from siamkit.losses import ContrastiveLoss, create_loss


def loop_contrastive(distances: list[float], labels: list[int], margin: float, positive_margin: float = 0.0) -> float:
    total = 0.0
    for distance, label in zip(distances, labels, strict=True):
        if label == 1:
            total += 0.5 * max(0.0, distance - positive_margin) ** 2
        else:
            total += 0.5 * max(0.0, margin - distance) ** 2
    return total / len(distances)


@pytest.mark.parametrize(("margin", "positive_margin"), [(0.5, 0.0), (1.0, 0.0), (2.5, 0.0), (1.4, 0.4)])
def test_matches_the_loop(margin: float, positive_margin: float) -> None:
    distances = torch.rand(12, dtype=torch.float64) * 3
    labels = torch.tensor([1, 0] * 6)
    loss = create_loss("contrastive", margin=margin, positive_margin=positive_margin)
    expected = loop_contrastive(distances.tolist(), labels.tolist(), margin, positive_margin)
    assert loss(distances, labels).item() == pytest.approx(expected, rel=1e-12)


def test_same_pairs_within_the_positive_margin_cost_nothing() -> None:
    distances = torch.tensor([0.2, 0.5], requires_grad=True)
    loss = ContrastiveLoss(margin=1.0, positive_margin=0.3)(distances, torch.tensor([1, 1]))
    assert loss.item() == pytest.approx(0.5 * 0.2**2 / 2)  # only the pair at 0.5, 0.2 beyond the margin
    loss.backward()
    assert distances.grad is not None and distances.grad[0] == 0 and distances.grad[1] > 0
    with pytest.raises(ConfigError, match="positive_margin must be at least 0 and below margin"):
        ContrastiveLoss(margin=1.0, positive_margin=1.0)


def test_different_pairs_beyond_the_margin_cost_nothing() -> None:
    distances = torch.tensor([1.5, 3.0], requires_grad=True)
    loss = ContrastiveLoss(margin=1.0)(distances, torch.tensor([0, 0]))
    assert loss.item() == 0.0
    loss.backward()
    assert distances.grad is not None and torch.equal(distances.grad, torch.zeros(2))


def test_gradients_pull_same_pairs_and_push_close_different_pairs() -> None:
    distances = torch.tensor([0.4, 0.4], requires_grad=True)
    ContrastiveLoss(margin=1.0)(distances, torch.tensor([1, 0])).backward()
    assert distances.grad is not None and torch.isfinite(distances.grad).all()
    assert distances.grad[0] > 0  # descending shrinks the same pair's distance
    assert distances.grad[1] < 0  # and grows the different pair's


def test_declares_pairs_without_logits() -> None:
    loss = ContrastiveLoss()
    assert loss.input_kind == "pairs" and not loss.needs_logits
