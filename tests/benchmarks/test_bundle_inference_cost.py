"""bundle_inference_cost.py times bundles side by side (what the times are is the script's to measure, not the
tests')."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siamkit.ensemble import combine_bundles

from .conftest import TinyCharacters, run_benchmark


def test_an_ensemble_is_timed_against_its_member(tiny_characters: TinyCharacters, tmp_path: Path) -> None:
    pair = tmp_path / "pair"
    combine_bundles([tiny_characters.model, tiny_characters.model], pair)
    out = tmp_path / "cost.json"
    completed = run_benchmark(
        "bundle_inference_cost.py", "--model", str(tiny_characters.model), "--model", str(pair),
        "--images", "16", "--repeats", "3", "--json-out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [row["model"] for row in rows] == [str(tiny_characters.model), str(pair)]
    assert rows[0]["cost_against_first"] == 1.0 and all(row["images_per_second"] > 0 for row in rows)


def test_a_missing_bundle_stops_with_its_name(tmp_path: Path) -> None:
    completed = run_benchmark("bundle_inference_cost.py", "--model", str(tmp_path / "absent"))
    assert completed.returncode == 2
    assert (
        completed.stderr.strip()
        .splitlines()[-1]
        .startswith(f"bundle_inference_cost.py: error: {tmp_path / 'absent'}: not a model bundle folder")
    )


def test_onnx_runtime_is_timed_beside_pytorch_on_the_same_images(
    tiny_characters: TinyCharacters, tmp_path: Path
) -> None:
    out = tmp_path / "cost.json"
    completed = run_benchmark(
        "bundle_inference_cost.py", "--model", str(tiny_characters.model), "--onnx",
        "--int8-calibration", str(tiny_characters.images), "--images", "8", "--repeats", "2", "--json-out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(out.read_text())["rows"]
    model = str(tiny_characters.model)
    assert [(row["model"], row["engine"]) for row in rows] == [
        (model, "pytorch"), (model, "onnxruntime"), (model, "onnxruntime-int8")
    ]  # fmt: skip
    assert rows[1]["speedup_over_pytorch"] == pytest.approx(rows[0]["seconds_per_image"] / rows[1]["seconds_per_image"])
    assert 0 <= rows[1]["max_abs_difference_from_pytorch"] < 1e-4
    assert rows[2]["speedup_over_onnxruntime"] == pytest.approx(
        rows[1]["seconds_per_image"] / rows[2]["seconds_per_image"]
    )
    # 30 character images: every third checked the drift
    assert rows[2]["int8_drift"]["n_check_images"] == 10 and rows[2]["int8_drift"]["worst_cosine"] >= 0.98


def test_int8_timing_needs_the_onnx_export(tiny_characters: TinyCharacters) -> None:
    completed = run_benchmark(
        "bundle_inference_cost.py", "--model", str(tiny_characters.model), "--int8-calibration",
        str(tiny_characters.images),
    )  # fmt: skip
    assert completed.returncode == 2 and completed.stderr.strip().endswith("--int8-calibration needs --onnx")
