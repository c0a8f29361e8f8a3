"""benchmarks/omniglot_relation_head.py: the correlation head against a hand computation, its symmetry, and a
whole run of the script on tiny generated characters with a random ResNet bundle."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

from .conftest import TinyCharacters, import_benchmark, run_benchmark


@pytest.fixture
def relation_head(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return import_benchmark(monkeypatch, "omniglot_relation_head")


def test_the_head_scores_the_cosine_table_both_ways_plus_the_embedding_cosine(relation_head: ModuleType) -> None:
    torch.manual_seed(0)
    head = relation_head.CorrelationHead(positions=3, hidden=4)
    queries = torch.nn.functional.normalize(torch.randn(2, 3, 5), dim=-1)
    supports = torch.nn.functional.normalize(torch.randn(4, 3, 5), dim=-1)
    query_embeddings = torch.nn.functional.normalize(torch.randn(2, 6), dim=-1)
    support_embeddings = torch.nn.functional.normalize(torch.randn(4, 6), dim=-1)
    scores = head(queries, supports, query_embeddings, support_embeddings)
    assert scores.shape == (2, 4)
    for q in range(2):
        for s in range(4):
            table = torch.tensor([[float(queries[q, i] @ supports[s, j]) for j in range(3)] for i in range(3)])
            learned = 0.5 * (head.table(table.flatten()) + head.table(table.T.flatten()))
            expected = head.embedding_weight * float(query_embeddings[q] @ support_embeddings[s]) + learned
            assert torch.allclose(scores[q, s], expected.squeeze(), atol=1e-5)
    # Symmetric: swapping which image is the query leaves every score unchanged.
    swapped = head(supports, queries, support_embeddings, query_embeddings)
    assert torch.allclose(swapped.T, scores, atol=1e-5)


def test_the_script_trains_a_head_and_scores_the_runs_against_the_plain_embedding(
    tiny_characters: TinyCharacters, tmp_path: Path
) -> None:
    completed = run_benchmark(
        "omniglot_relation_head.py", "--model", str(tiny_characters.model), "--runs", str(tiny_characters.runs),
        "--validation-runs", str(tiny_characters.runs), "--data", str(tiny_characters.images), "--steps", "4",
        "--validate-every", "2", "--episodes-per-step", "1", "--episode-alphabets", "Alpha",
        "--json-out", str(tmp_path / "result.json"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert [entry["step"] for entry in result["history"]] == [2, 4]
    # Every drawer drew the same image: the identical copy is the most similar by the plain embedding.
    assert result["plain_accuracy"] == 1.0
    assert 0.0 <= result["head_final_accuracy"] <= 1.0 and 0.0 <= result["head_best_validation_accuracy"] <= 1.0


def test_the_script_refuses_episode_alphabets_that_are_not_in_the_data(tiny_characters: TinyCharacters) -> None:
    completed = run_benchmark(
        "omniglot_relation_head.py", "--model", str(tiny_characters.model), "--runs", str(tiny_characters.runs),
        "--validation-runs", str(tiny_characters.runs), "--data", str(tiny_characters.images),
        "--episode-alphabets", "Klingon",
    )  # fmt: skip
    assert completed.returncode != 0
    assert "--episode-alphabets: none of ['Klingon']" in completed.stderr
