"""Identification against a simulated gallery: who is enrolled, who probes, and the ranks and open-set errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError, DataError
from siamkit.evaluation import identification
from siamkit.evaluation.identification import IdentificationTrials, evaluate_identification, identification_trials
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


def vector_model(threshold: float | None = None) -> SiameseModel:
    config = SiameseConfig(EncoderConfig("mlp", (2,), 2, {"hidden_dims": []}), ComparisonConfig("euclidean"))
    return SiameseModel(
        SiameseNetwork.from_config(config), PreprocessingConfig(kind="vector", vector_length=2), threshold=threshold
    )


def confusable_gallery() -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """A: two images at the origin; B: at (-0.5, 0) and (0.5, 0), each nearer A than the other B;
    S: one image at (0, 3), too few to enrol with one reference, so always the stranger.

    Whichever references are drawn, A's probe is ranked first (distance 0) and B's second (A at 0.5, its own
    reference at 1.0); S's nearest enrolled identity is A, at distance 3."""
    points = torch.tensor([[0.0, 0], [0, 0], [-0.5, 0], [0.5, 0], [0, 3]])
    return points, np.array([0, 0, 1, 1, 2]), [f"{index}.png" for index in range(5)]


def test_ranks_and_open_set_errors_match_a_hand_count() -> None:
    points, labels, paths = confusable_gallery()
    model = vector_model(threshold=1.0)
    trials = identification_trials(model, points, labels, paths, "classes", 1, stranger_share=1 / 3, draws=10)
    result = evaluate_identification(model, trials)
    assert (result["enrolled"], result["strangers"], result["n_mated"], result["n_non_mated"]) == (2, 1, 20, 10)
    assert result["cmc"] == [0.5, 1.0] and result["rank_accuracy"] == {"1": 0.5}
    assert np.allclose(trials.non_mated_scores, -3.0)  # similarities are negated distances
    # At distance 1: the stranger (3 away) is not named; B's probes are named A, so half the mated probes miss.
    assert result["fpir"] == 0.0 and result["fnir"] == 0.5
    at_ten_percent, at_one_percent = result["fnir_at_fpir"]
    assert at_ten_percent["fpir"] == 0.0 and at_ten_percent["fnir"] == 0.5
    assert at_ten_percent["threshold"] == pytest.approx(3.0)  # just under distance 3, in score units
    assert at_one_percent["fnir"] is None  # 10 non-mated probes cannot measure an FPIR of 1%
    assert trials.open_set_errors(-4.0) == (1.0, 0.5)


def test_probes_scored_in_blocks_give_the_same_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = np.random.default_rng(2)
    labels = np.repeat(np.arange(6), 5)
    points = torch.tensor(generator.normal(size=(30, 2)) + labels[:, None], dtype=torch.float32)
    paths = [f"{index}.png" for index in range(30)]
    whole = identification_trials(vector_model(), points, labels, paths, "classes", 2, draws=3)
    monkeypatch.setattr(identification, "_PROBES_PER_BLOCK", 4)
    blocked = identification_trials(vector_model(), points, labels, paths, "classes", 2, draws=3)
    assert np.array_equal(whole.mated_ranks, blocked.mated_ranks)
    assert np.allclose(whole.non_mated_scores, blocked.non_mated_scores)
    assert (whole.enrolled, whole.strangers, whole.mated_ranks.size) == (3, 3, 3 * 3 * 3)


def test_error_curve_is_fpir_and_fnir_at_every_threshold() -> None:
    trials = IdentificationTrials(
        mated_ranks=np.array([1, 1, 2]),
        mated_scores=np.array([0.9, 0.5, 0.8]),
        mated_named_right=np.array([True, True, False]),
        non_mated_scores=np.array([0.6, 0.2]),
        enrolled=3,
        strangers=1,
    )
    fpir, fnir = trials.error_curve()
    thresholds = [0.2, 0.5, 0.6, 0.8, 0.9]
    for index, threshold in enumerate(thresholds):
        assert (fpir[index], fnir[index]) == pytest.approx(trials.open_set_errors(threshold))
    assert list(fnir) == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])


def test_forged_signatures_are_probes_never_references() -> None:
    # Two writers in tight, distant clusters; their forgeries far from both.
    points, labels, paths = [], [], []
    for writer, centre in ((1, 0.0), (2, 10.0)):
        for number in range(3):
            points.append([centre + 0.01 * number, 0.0])
            labels.append(writer)
            paths.append(f"cedar/{writer}/original_{writer}_{number + 1}.png")
        for number in range(2):
            points.append([100.0, 100.0])
            labels.append(writer)
            paths.append(f"cedar/{writer}/forgeries_{writer}_{number + 1}.png")
    trials = identification_trials(
        vector_model(), torch.tensor(points), np.array(labels), paths, "signatures", 1, stranger_share=0.0, draws=5
    )
    assert trials.enrolled == 2 and trials.strangers == 0
    assert trials.mated_scores.size == 2 * 2 * 5 and trials.non_mated_scores.size == 4 * 5
    assert (trials.mated_ranks == 1).all() and (trials.mated_scores > -0.03).all()
    assert (trials.non_mated_scores < -100).all()


def test_bad_settings_and_too_small_folders_are_refused() -> None:
    points, labels, paths = confusable_gallery()
    with pytest.raises(ConfigError, match="share of strangers"):
        identification_trials(vector_model(), points, labels, paths, "classes", 1, stranger_share=1.0)
    with pytest.raises(ConfigError, match="protocol"):
        identification_trials(vector_model(), points, labels, paths, "pairs", 1)
    with pytest.raises(ConfigError, match="at least 1 reference"):
        identification_trials(vector_model(), points, labels, paths, "classes", 0)
    with pytest.raises(DataError, match="two identities left to enrol"):
        identification_trials(vector_model(), points, labels, paths, "classes", 2)
