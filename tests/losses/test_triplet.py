"""Triplet loss against a hand-written loop."""

from __future__ import annotations

import pytest
import torch

from siamkit.losses import TripletLoss, create_loss


def loop_triplet(positive: list[float], negative: list[float], margin: float) -> float:
    terms = [max(0.0, p - n + margin) for p, n in zip(positive, negative, strict=True)]
    return sum(terms) / len(terms)


@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
def test_matches_the_loop(margin) -> None:
    anchor_positive = torch.rand(10, dtype=torch.float64, requires_grad=True)
    anchor_negative = torch.rand(10, dtype=torch.float64, requires_grad=True)
    loss = create_loss("triplet", margin=margin)(anchor_positive, anchor_negative)
    expected = loop_triplet(anchor_positive.tolist(), anchor_negative.tolist(), margin)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    for tensor in (anchor_positive, anchor_negative):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()


def test_satisfied_triplets_cost_nothing_and_violated_ones_get_gradients() -> None:
    anchor_positive = torch.tensor([0.1, 0.9], requires_grad=True)
    anchor_negative = torch.tensor([1.0, 1.0], requires_grad=True)
    loss = TripletLoss(margin=0.2)(anchor_positive, anchor_negative)
    assert loss.item() == pytest.approx(0.05)
    loss.backward()
    assert anchor_positive.grad is not None and anchor_positive.grad.tolist() == [0.0, 0.5]
    assert anchor_negative.grad is not None and anchor_negative.grad.tolist() == [0.0, -0.5]


def test_declares_triplets() -> None:
    assert TripletLoss().input_kind == "triplets" and not TripletLoss().needs_logits
