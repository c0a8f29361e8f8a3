"""Distance regression against a hand-written loop, for every penalty with and without `relative`."""

from __future__ import annotations

import pytest
import torch

from siamkit.errors import ConfigError
from siamkit.losses import DistanceRegressionLoss, create_loss


def loop_penalty(gap: float, penalty: str) -> float:
    if penalty == "absolute":
        return abs(gap)
    if penalty == "squared":
        return gap**2
    return 0.5 * gap**2 if abs(gap) < 1.0 else abs(gap) - 0.5  # Huber with delta 1


def loop_regression(distances: list[float], targets: list[float], penalty: str, relative: bool) -> float:
    total = 0.0
    for distance, target in zip(distances, targets, strict=True):
        gap = distance - target
        if relative:
            gap /= abs(target) + 1e-6
        total += loop_penalty(gap, penalty)
    return total / len(distances)


@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("penalty", ["absolute", "squared", "huber"])
def test_matches_the_loop(penalty, relative) -> None:
    # Gaps on both sides of Huber's kink at 1, and targets from small to large.
    distances = torch.tensor([0.1, 0.5, 2.0, 4.0, 9.0, 0.0], dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0.3, 2.5, 1.8, 0.5, 10.0, 0.2], dtype=torch.float64)
    loss = create_loss("distance_regression", penalty=penalty, relative=relative)(distances, targets)
    expected = loop_regression(distances.tolist(), targets.tolist(), penalty, relative)
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert distances.grad is not None and torch.isfinite(distances.grad).all()


def test_relative_weighs_short_and_long_distances_alike() -> None:
    loss = DistanceRegressionLoss("absolute", relative=True)
    short = loss(torch.tensor([1.1]), torch.tensor([1.0]))
    long = loss(torch.tensor([110.0]), torch.tensor([100.0]))
    assert short.item() == pytest.approx(long.item(), rel=1e-4)


def test_zero_targets_give_finite_gradients_with_relative() -> None:
    distances = torch.tensor([0.0, 0.5], requires_grad=True)
    DistanceRegressionLoss("huber", relative=True)(distances, torch.zeros(2)).backward()
    assert distances.grad is not None and torch.isfinite(distances.grad).all()


def test_unknown_penalty() -> None:
    with pytest.raises(ConfigError, match="penalty"):
        DistanceRegressionLoss("cubic")
    with pytest.raises(ConfigError, match="penalty"):
        create_loss("distance_regression", penalty="cubic")


def test_declares_regression() -> None:
    assert DistanceRegressionLoss().input_kind == "regression"
