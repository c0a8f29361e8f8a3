"""Smoke test of benchmarks/core_speed.py: the quick mode runs end to end and reports finite numbers.

No speed is asserted (timed tests are flaky on a shared 2-core machine); speed is what the script reports.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def core_speed(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The benchmark script imported as a module (its helpers are top-level modules beside it)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import core_speed

    return core_speed


def _positive_finite(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_quick_run_reports_every_measurement(core_speed: ModuleType, tmp_path: Path) -> None:
    output = tmp_path / "core_speed.json"
    results = core_speed.main(["--quick", "--threads", "1", "--output", str(output)])

    assert _positive_finite(results["matmul"]["gflops_per_second"])
    variants = {row["variant"] for row in results["training"]}
    assert {"baseline", "channels_last", "channels_last+retained_heap"} <= variants
    for row in results["training"] + results["inference"]:
        assert _positive_finite(row["images_per_second"])
        assert _positive_finite(row["peak_share"])
    baseline = next(row for row in results["training"] if row["variant"] == "baseline")
    assert baseline["speedup_vs_baseline"] == pytest.approx(1.0)

    modes = {row["mode"] for row in results["pairs"]}
    assert modes == {"training", "inference"}
    for row in results["pairs"]:
        assert row["pairs_per_batch"] == 16 * 15 // 2
        assert row["speedup"] == pytest.approx(row["in_batch_pairs_per_second"] / row["naive_pairs_per_second"])

    # A training step costs about three forward passes (the first convolution needs no input gradient).
    (flops,) = results["training_flops"]
    assert 2.5 < flops["step_over_forward"] < 3.1

    assert json.loads(output.read_text())["training"] == results["training"]


def test_unknown_variant_is_rejected(core_speed: ModuleType) -> None:
    with pytest.raises(SystemExit, match="unknown variant"):
        core_speed.main(["--quick", "--variants", "baseline,fp8"])


def test_sides_option_keeps_only_the_named_image_sizes(core_speed: ModuleType) -> None:
    settings = core_speed.settings_from_arguments(core_speed.parse_arguments(["--sides", "28"]))

    assert [workload.side for workload in settings.workloads] == [28]
    assert [workload.side for workload in settings.pair_workloads] == [28]
    with pytest.raises(SystemExit, match="no workload"):
        core_speed.settings_from_arguments(core_speed.parse_arguments(["--quick", "--sides", "105"]))
