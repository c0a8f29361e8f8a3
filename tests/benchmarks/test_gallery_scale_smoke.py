"""Smoke test of benchmarks/gallery_scale.py: a small run goes end to end and reports sane numbers.

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
def gallery_scale(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gallery_scale

    return gallery_scale


def _positive_finite(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_small_run_reports_every_measurement(gallery_scale: ModuleType, tmp_path: Path) -> None:
    output = tmp_path / "gallery_scale.json"
    results = gallery_scale.main(
        ["--quick", "--count", "3000", "--queries", "100", "--ef-search", "8,64", "--output", str(output)]
    )

    enrolment = results["enrolment"]
    assert enrolment["references"] == 3000
    for key in ("references_per_second", "sqlite_bytes_per_reference"):
        assert _positive_finite(enrolment[key])
    # The file holds at least the raw float32 vectors.
    assert enrolment["sqlite_bytes_per_reference"] >= enrolment["raw_vector_bytes"] == 128 * 4
    for timing in (results["exact"]["identify"], results["exact"]["index_search"]):
        assert _positive_finite(timing["p50_ms"]) and timing["p99_ms"] >= timing["p50_ms"]
    assert results["exact"]["recall_at_1_of_recaptured_reference"] > 0.9
    assert _positive_finite(results["hnsw_build"]["references_per_second"])

    assert [row["ef_search"] for row in results["hnsw"]] == [8, 64]
    for row in results["hnsw"]:
        assert 0.0 <= row["recall_at_1"] <= 1.0
        assert _positive_finite(row["identify"]["p50_ms"])
        assert row["identify_p50_speedup_vs_exact"] == pytest.approx(
            results["exact"]["identify"]["p50_ms"] / row["identify"]["p50_ms"]
        )
    # A generous candidate list finds the exact answer on this small, well-separated set.
    assert results["hnsw"][-1]["recall_at_1"] >= 0.99

    assert json.loads(output.read_text())["hnsw"] == results["hnsw"]


def test_rejects_a_too_small_gallery(gallery_scale: ModuleType) -> None:
    with pytest.raises(SystemExit):
        gallery_scale.main(["--count", "10"])


def test_page_size_comparison_restores_the_default(gallery_scale: ModuleType, tmp_path: Path) -> None:
    from siamkit.gallery import storage

    default_size = storage.PAGE_SIZE_BYTES
    results = gallery_scale.main(["--quick", "--count", "2000", "--enrolment-page-sizes", "4096,16384"])
    by_size = results["enrolment_by_page_size"]
    assert set(by_size) == {"4096", "16384"} and by_size["4096"]["ratio_to_first"] == 1.0
    for row in by_size.values():
        assert len(row["runs"]) == 2 and all(_positive_finite(rate) for rate in row["runs"])
    restored_size = storage.PAGE_SIZE_BYTES
    assert "hnsw" not in results and restored_size == default_size


def test_schema_comparison_enrols_through_both_schemas(gallery_scale: ModuleType, tmp_path: Path) -> None:
    results = gallery_scale.main(["--quick", "--count", "2000", "--enrolment-schemas", "--directory", str(tmp_path)])
    by_schema = results["enrolment_by_schema"]
    assert set(by_schema) == {"1", "2"} and by_schema["1"]["ratio_to_schema_1"] == 1.0
    for row in by_schema.values():
        assert len(row["runs"]) == 2 and all(_positive_finite(rate) for rate in row["runs"])
    assert "enrolment" not in results and list(tmp_path.iterdir()) == []  # every gallery file was removed
