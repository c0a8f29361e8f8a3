"""Binary cross-entropy on logits against a hand-written loop."""

from __future__ import annotations

import math

import pytest
import torch

from siamkit.losses import BinaryCrossEntropyLoss, create_loss


def loop_binary_cross_entropy(logits: list[float], labels: list[int], positive_weight: float) -> float:
    total = 0.0
    for logit, label in zip(logits, labels, strict=True):
        probability = 1.0 / (1.0 + math.exp(-logit))
        total -= positive_weight * math.log(probability) if label == 1 else math.log(1.0 - probability)
    return total / len(logits)


@pytest.mark.parametrize("positive_weight", [1.0, 3.0, 0.25])
def test_matches_the_loop(positive_weight) -> None:
    logits = torch.randn(12, dtype=torch.float64) * 3
    labels = torch.tensor([1, 1, 0] * 4)
    loss = create_loss("binary_cross_entropy", positive_weight=positive_weight)
    expected = loop_binary_cross_entropy(logits.tolist(), labels.tolist(), positive_weight)
    assert loss(logits, labels).item() == pytest.approx(expected, rel=1e-12)


def test_extreme_logits_stay_finite() -> None:
    logits = torch.tensor([200.0, -200.0, 200.0, -200.0], requires_grad=True)
    loss = BinaryCrossEntropyLoss()(logits, torch.tensor([1, 0, 0, 1]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(100.0)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_gradient_raises_the_logit_of_same_pairs() -> None:
    logits = torch.zeros(2, requires_grad=True)
    BinaryCrossEntropyLoss()(logits, torch.tensor([1, 0])).backward()
    assert logits.grad is not None and logits.grad.tolist() == pytest.approx([-0.25, 0.25])


def test_declares_pairs_that_need_logits() -> None:
    loss = BinaryCrossEntropyLoss()
    assert loss.input_kind == "pairs" and loss.needs_logits
