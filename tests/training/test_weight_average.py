"""The moving average of the weights: its update rule by hand, and what the training loop does with it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from siamkit.errors import ConfigError, DataError
from siamkit.training.config import TrainConfig
from siamkit.training.trainer import train
from siamkit.training.weight_average import create_weight_average, effective_decay

from .conftest import pattern_dataset, small_network
from .test_trainer import train_until_killed, weights


def test_the_average_follows_the_rule_written_by_hand() -> None:
    layer = torch.nn.BatchNorm1d(2)  # a weight, a bias, running statistics and an integer batch counter
    states = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, -1.0]), torch.tensor([0.5, 0.5]), torch.tensor([4.0, 0.0])]
    with torch.no_grad():
        layer.weight.copy_(states[0])
    average = create_weight_average(layer, decay=0.2)
    expected = None
    for step, state in enumerate(states):
        with torch.no_grad():
            layer.weight.copy_(state)
            layer.num_batches_tracked.fill_(10 * step)
        average.update_parameters(layer)
        # The first update copies; then d = min(0.2, (1 + n) / (10 + n)) with n updates already averaged:
        # 2/11 (the warm-up), then 0.2 (3/12 and 4/13 exceed it).
        if expected is None:
            expected = state.clone()
        else:
            decay = min(0.2, (1 + step) / (10 + step))
            expected = decay * expected + (1 - decay) * state
        assert torch.allclose(average.module.weight, expected), step
        assert int(average.module.num_batches_tracked) == 10 * step  # integers are taken, not averaged
    assert effective_decay(0.5, 0) == pytest.approx(0.1)
    assert effective_decay(0.5, 100) == 0.5
    assert effective_decay(0.999, 8) == pytest.approx(0.5)


def test_decays_outside_zero_to_one_are_refused(quick_config: TrainConfig) -> None:
    for decay in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ConfigError, match="weight_average_decay"):
            dataclasses.replace(quick_config, weight_average_decay=decay)
    with pytest.raises(ValueError, match="decay"):
        create_weight_average(torch.nn.Linear(2, 2), decay=1.0)


def test_the_bundle_holds_the_averaged_weights_not_the_last_ones(quick_config: TrainConfig) -> None:
    data = pattern_dataset()
    # One epoch, validated once at its end: the kept weights are the final average only if validation (and
    # so the bundle's best weights and threshold) sees the averaged network rather than the last step's.
    config = dataclasses.replace(quick_config, weight_average_decay=0.9, epochs=1)
    result = train(small_network(), data, config, validation_data=pattern_dataset(seed=1))
    checkpoint = load_file(str(config.output_dir / "checkpoint" / "state.safetensors"))
    assert int(checkpoint["average.n_averaged"]) == result.steps
    saved = weights(result.model.network)
    moved_away = 0
    for name, value in saved.items():
        assert torch.equal(value, checkpoint[f"average.module.{name}"]), name
        if value.is_floating_point() and not torch.equal(value, checkpoint[f"network.{name}"]):
            moved_away += 1
    assert moved_away > 0  # the last step's weights differ from their average
    assert result.model.threshold is not None
    assert result.model.metadata["training"]["config"]["weight_average_decay"] == 0.9


def test_resume_continues_the_average_exactly(
    tmp_path: Path, quick_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pattern_dataset()
    config = dataclasses.replace(quick_config, checkpoint_every_steps=2, weight_average_decay=0.8)
    uninterrupted = train(small_network(), data, dataclasses.replace(config, output_dir=tmp_path / "full"))
    killed_config = dataclasses.replace(config, output_dir=tmp_path / "killed")
    train_until_killed(small_network(), data, killed_config, monkeypatch)
    resumed = train(small_network(seed=99), data, killed_config, resume=True)
    for name, value in weights(uninterrupted.model.network).items():
        assert torch.equal(value, weights(resumed.model.network)[name]), name


def test_resuming_with_averaging_switched_on_or_off_is_refused(
    tmp_path: Path, quick_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pattern_dataset()
    plain = dataclasses.replace(quick_config, output_dir=tmp_path / "plain", checkpoint_every_steps=2)
    train_until_killed(small_network(), data, plain, monkeypatch)
    with pytest.raises(DataError, match="without a moving average"):
        train(small_network(), data, dataclasses.replace(plain, weight_average_decay=0.9), resume=True)

    averaged = dataclasses.replace(plain, output_dir=tmp_path / "averaged", weight_average_decay=0.9)
    train_until_killed(small_network(), data, averaged, monkeypatch)
    with pytest.raises(DataError, match="holds a moving average"):
        train(small_network(), data, dataclasses.replace(averaged, weight_average_decay=None), resume=True)
