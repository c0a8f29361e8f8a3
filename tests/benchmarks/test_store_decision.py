"""store_decision.py pools the held-out scores of several split models into one bundle decision."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .conftest import TinyCharacters, run_benchmark


def save_scores(path: Path, same: list[float], different: list[float]) -> Path:
    similarities = np.array(same + different, dtype=np.float32)
    labels = np.array([1] * len(same) + [0] * len(different))
    np.savez(path, similarities=similarities, labels=labels)
    return path


def test_scores_of_two_models_are_pooled_into_the_bundle(tiny_characters: TinyCharacters, tmp_path: Path) -> None:
    # The first model's pairs alone separate anywhere between -0.4 and -1.2, which would reject the second
    # model's same pairs at -1.0; pooled, only a threshold in (-1.2, -1.0] accepts every same pair of both and
    # no different pair.
    first = save_scores(tmp_path / "a.npz", same=[-0.2, -0.3, -0.4], different=[-1.2, -1.4, -1.6])
    second = save_scores(tmp_path / "b.npz", same=[-0.6, -0.8, -1.0], different=[-1.8, -2.0, -2.2])
    completed = run_benchmark(
        "store_decision.py", "--model", str(tiny_characters.model), "--scores", str(first), "--scores", str(second)
    )
    assert completed.returncode == 0, completed.stderr
    printed = json.loads(completed.stdout)
    assert printed["n_same"] == 6 and printed["n_different"] == 6
    assert -1.2 < printed["threshold_similarity"] <= -1.0
    assert printed["far"] == 0 and printed["frr"] == 0
    stored = json.loads((tiny_characters.model / "config.json").read_text())["decision"]
    # The bundle compares by distance: its threshold is the negated similarity threshold.
    assert stored["threshold"] == -printed["threshold_similarity"]
    assert stored["calibration"] == printed["calibration"]
    provenance = stored["provenance"]
    assert "store_decision.py" in provenance["source"] and provenance["data"] == [str(first), str(second)]
    assert (provenance["method"], provenance["n_same"], provenance["far"]) == ("eer", 6, 0)


def test_a_scores_file_that_is_not_one_stops_with_one_line_and_leaves_the_bundle(
    tiny_characters: TinyCharacters, tmp_path: Path
) -> None:
    before = (tiny_characters.model / "config.json").read_bytes()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not an npz")
    missing_labels = tmp_path / "no_labels.npz"
    np.savez(missing_labels, similarities=np.zeros(3))
    for path in (broken, missing_labels, tmp_path / "absent.npz"):
        completed = run_benchmark("store_decision.py", "--model", str(tiny_characters.model), "--scores", str(path))
        assert completed.returncode != 0
        message = completed.stderr.strip().splitlines()
        assert len(message) == 1 and message[0].startswith(f"{path}: not a held-out scores file")
    assert (tiny_characters.model / "config.json").read_bytes() == before
