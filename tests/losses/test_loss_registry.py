"""Every registered loss on inputs of its kind: a finite scalar with finite gradients."""

from __future__ import annotations

import pytest
import torch

from siamkit.errors import ConfigError
from siamkit.losses import LOSSES, SiameseLoss, create_loss, takes_class_count


def build(name: str) -> SiameseLoss:
    """The loss with its defaults; class-proxy losses sized for 3 classes of 4-d embeddings."""
    if takes_class_count(name):
        return create_loss(name, num_classes=3, embedding_dim=4)
    return create_loss(name)


def loss_inputs(loss: SiameseLoss) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of the kind the loss declares, the first needing gradients."""
    if loss.input_kind == "classes":
        return torch.randn(6, 4, requires_grad=True), torch.tensor([0, 1, 2, 0, 1, 2])
    if loss.input_kind == "batch":
        return torch.randn(6, 6, requires_grad=True), torch.tensor([0, 1, 2, 0, 1, 2])
    if loss.input_kind == "triplets":
        return torch.rand(6, requires_grad=True), torch.rand(6)
    if loss.input_kind == "regression":
        return torch.rand(6, requires_grad=True), torch.rand(6) * 2
    scores = torch.randn(6) if loss.needs_logits else torch.rand(6) * 2
    return scores.requires_grad_(), torch.tensor([1, 0, 1, 0, 0, 1])


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_gives_a_finite_scalar_with_finite_gradients(name) -> None:
    loss = build(name)
    assert isinstance(loss, SiameseLoss)
    assert loss.input_kind in ("pairs", "triplets", "regression", "classes", "batch")
    scores, other = loss_inputs(loss)
    value = loss(scores, other)
    assert value.shape == () and torch.isfinite(value)
    value.backward()
    assert scores.grad is not None and torch.isfinite(scores.grad).all()


def test_the_documented_losses_are_registered() -> None:
    documented = {"contrastive", "triplet", "binary_cross_entropy", "distance_regression", "cosface", "arcface"}
    assert documented | {"supervised_contrastive"} <= set(LOSSES.names())


def test_unknown_loss_and_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown loss"):
        create_loss("hinge")
    with pytest.raises(ConfigError, match="bad options"):
        create_loss("triplet", margn=0.3)
