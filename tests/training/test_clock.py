"""The time budget: the clock's arithmetic, the schedule it drives, and a budgeted run that stops and anneals."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import pytest

from siamkit.errors import ConfigError
from siamkit.training import clock as clock_module
from siamkit.training import trainer as trainer_module
from siamkit.training.clock import TrainingClock
from siamkit.training.config import TrainConfig
from siamkit.training.optimization import schedule_factor
from siamkit.training.trainer import train

from .conftest import pattern_dataset, small_network


def fake_time(monkeypatch: pytest.MonkeyPatch, step_seconds: float) -> None:
    """Every reading of the clock is `step_seconds` after the one before."""
    ticks = itertools.count()
    monkeypatch.setattr(clock_module.time, "perf_counter", lambda: next(ticks) * step_seconds)


def test_clock_fraction_and_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_time(monkeypatch, 10.0)
    clock = TrainingClock(budget_seconds=40.0, already_elapsed=5.0)  # started at t=0
    assert clock.elapsed() == pytest.approx(15.0)  # t=10, plus 5 before the resume
    assert clock.fraction() == pytest.approx(25.0 / 40.0)  # t=20
    assert not clock.spent()  # t=30: 35 s < 40 s
    assert clock.spent()  # t=40: 45 s
    assert clock.fraction() == 1.0


def test_without_budget_the_clock_never_runs_out(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_time(monkeypatch, 1e6)
    clock = TrainingClock(budget_seconds=None)
    assert clock.fraction() == 0.0 and not clock.spent()


def test_schedule_follows_time_when_it_is_ahead_of_the_steps() -> None:
    config = TrainConfig(warmup_steps=10, schedule="cosine")
    share = {"value": 0.0}
    factor = schedule_factor(config, total_steps=1010, time_fraction=lambda: share["value"])
    assert factor(4) == pytest.approx(0.5)  # warm-up is by steps whatever the time
    assert factor(510) == pytest.approx(0.5)  # half the steps, no time used: cos at the half-way point
    share["value"] = 0.75
    assert factor(510) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.75)))  # time is further along
    share["value"] = 0.25
    assert factor(510) == pytest.approx(0.5)  # steps are further along


def test_budgeted_run_stops_on_time_validates_and_ends_with_an_annealed_rate(
    quick_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_time(monkeypatch, 0.5)  # each clock reading half a second later
    config = dataclasses.replace(
        quick_config, epochs=1000, max_steps=None, time_budget_minutes=0.5, warmup_steps=0, log_every_steps=1
    )
    result = train(small_network(), pattern_dataset(), config, validation_data=pattern_dataset(seed=1))
    steps_in_full = 1000 * len(pattern_dataset().labels) // (config.classes_per_batch * config.samples_per_class)
    assert 0 < result.steps < steps_in_full / 10
    records = [record for record in result.history if "learning_rate" in record]
    assert records[-1]["learning_rate"] < 0.05 * config.learning_rate
    assert any("validation" in record for record in result.history)
    assert result.model.metadata["training"]["steps"] == result.steps


def test_budget_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="time_budget_minutes"):
        TrainConfig(time_budget_minutes=0)


def test_a_resumed_budgeted_run_counts_the_time_before_the_kill(
    quick_config: TrainConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_time(monkeypatch, 0.5)
    budgeted = dataclasses.replace(
        quick_config, epochs=1000, max_steps=None, time_budget_minutes=0.5, warmup_steps=0, checkpoint_every_steps=2
    )
    fresh = train(small_network(), pattern_dataset(), dataclasses.replace(budgeted, output_dir=tmp_path / "fresh"))
    assert fresh.steps > 8

    killed = dataclasses.replace(budgeted, output_dir=tmp_path / "killed")
    real_step = trainer_module.training_step
    calls = {"count": 0}

    def dying_step(*args: object, **kwargs: object) -> float:
        calls["count"] += 1
        if calls["count"] == 8:  # after the checkpoint at step 6
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer_module, "training_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(small_network(), pattern_dataset(), killed)
    monkeypatch.setattr(trainer_module, "training_step", real_step)
    resumed = train(small_network(), pattern_dataset(), killed, resume=True)
    # The budget covers both parts: a resumed run that forgot the first part would take about 6 more steps.
    assert abs(resumed.steps - fresh.steps) <= 2
