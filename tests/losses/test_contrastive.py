"""Contrastive loss against a hand-written loop."""

from __future__ import annotations

import pytest
import torch

from siamkit.losses import ContrastiveLoss, create_loss


def loop_contrastive(distances: list[float], labels: list[int], margin: float) -> float:
    total = 0.0
    for distance, label in zip(distances, labels, strict=True):
        total += 0.5 * distance**2 if label == 1 else 0.5 * max(0.0, margin - distance) ** 2
    return total / len(distances)


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.5])
def test_matches_the_loop(margin) -> None:
    distances = torch.rand(12, dtype=torch.float64) * 3
    labels = torch.tensor([1, 0] * 6)
    loss = create_loss("contrastive", margin=margin)
    expected = loop_contrastive(distances.tolist(), labels.tolist(), margin)
    assert loss(distances, labels).item() == pytest.approx(expected, rel=1e-12)


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
