"""benchmarks/omniglot_test_time_comparisons.py: local-descriptor matching against a hand computation, and a
whole run of the script on tiny generated runs with a random ResNet bundle."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

from .conftest import TinyCharacters, import_benchmark, run_benchmark


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return import_benchmark(monkeypatch, "omniglot_test_time_comparisons")


def test_local_match_takes_each_locations_best_match_then_averages(comparisons: ModuleType) -> None:
    generator = torch.Generator().manual_seed(0)
    queries = torch.nn.functional.normalize(torch.randn(2, 3, 4, generator=generator), dim=-1)
    references = torch.nn.functional.normalize(torch.randn(3, 5, 4, generator=generator), dim=-1)
    expected = torch.zeros(2, 3)
    for query in range(2):
        for reference in range(3):
            best = [max(float(queries[query, i] @ references[reference, j]) for j in range(5)) for i in range(3)]
            expected[query, reference] = sum(best) / 3
    assert torch.allclose(comparisons.local_match(queries, references), expected, atol=1e-6)
    # An image matched with itself: every location finds itself, cosine 1.
    assert torch.allclose(comparisons.local_match(queries, queries).diagonal(), torch.ones(2), atol=1e-6)


def test_support_hubness_lowers_each_candidate_by_half_its_closeness_to_the_others(comparisons: ModuleType) -> None:
    generator = torch.Generator().manual_seed(1)
    test = torch.randn(3, 4, generator=generator)
    training = torch.randn(5, 4, generator=generator)
    unit_test = torch.nn.functional.normalize(test, dim=-1)
    unit_training = torch.nn.functional.normalize(training, dim=-1)
    expected = torch.zeros(3, 5)
    for item in range(3):
        for candidate in range(5):
            others = sorted(
                (float(unit_training[candidate] @ unit_training[other]) for other in range(5) if other != candidate),
                reverse=True,
            )
            expected[item, candidate] = float(unit_test[item] @ unit_training[candidate]) - 0.5 * sum(others[:2]) / 2
    assert torch.allclose(comparisons.support_hubness(test, training, neighbours=2), expected, atol=1e-6)
    # A hub (b, close to a and c) loses a test item it is only slightly closer to than an isolated candidate (d).
    hub_run = torch.tensor([[1.0, 0.0, 0.0], [0.7, 0.7, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    item = torch.tensor([[0.4, 0.4, 0.55]])
    assert int((item @ torch.nn.functional.normalize(hub_run, dim=-1).T).argmax()) == 1
    assert int(comparisons.support_hubness(item, hub_run, neighbours=1).argmax()) == 3


def test_the_script_scores_every_comparison_on_generated_runs(tiny_characters: TinyCharacters, tmp_path: Path) -> None:
    completed = run_benchmark(
        "omniglot_test_time_comparisons.py", "--model", str(tiny_characters.model), "--runs", str(tiny_characters.runs),
        "--threads", "1", "--json-out", str(tmp_path / "result.json"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["n_items"] == 10 and result["n_runs"] == 2
    assert set(result["accuracy"]) == {"global", "support_centred", "local_descriptors", "support_hubness"}
    # Every drawer drew the same image: the identical copy is the most similar by every comparison but the
    # hubness one, which may rightly prefer a less crowded candidate (tested above).
    assert all(value == 1.0 for name, value in result["accuracy"].items() if name != "support_hubness")
    assert 0.0 <= result["accuracy"]["support_hubness"] <= 1.0
