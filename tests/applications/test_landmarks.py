"""Tests of the landmark application: classical solvers, the bound, the network experiment and the CLI."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from scipy.spatial.distance import pdist
from typer.testing import CliRunner

from siamkit.applications.landmarks import (
    LandmarkExperimentConfig,
    LandmarkMDS,
    LateLandmarksConfig,
    ablation_configs,
    build_landmark_network,
    classical_mds,
    evaluate_setting,
    position_error_bounds,
    predict_coordinates,
    refine_positions,
    rmse_bound,
    run_landmark_experiment,
    run_late_landmarks,
    trilaterate,
    trilaterate_linear,
    widen_network_inputs,
)
from siamkit.applications.landmarks.cli import landmarks_command
from siamkit.applications.landmarks.comparison import ComparisonSetting
from siamkit.applications.landmarks.diagnostics import distance_statistics, landmark_geometry, post_error_growth
from siamkit.applications.landmarks.experiment import pair_regression_loss
from siamkit.applications.landmarks.geometry import (
    add_range_noise,
    align_rigidly,
    coordinate_rmse,
    landmark_distances,
    pair_distance_error,
    post_error,
)
from siamkit.errors import ConfigError
from siamkit.losses import DistanceRegressionLoss

# A small problem the network learns in a second or two.
SMALL = {
    "n_landmarks": 5,
    "n_points": 35,
    "n_dimensions": 3,
    "hidden_dims": (64, 64),
    "training_points": 1024,
    "steps": 400,
    "evaluation_points": 300,
}


def _problem(seed: int, n_landmarks: int, n_dimensions: int, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n_landmarks, n_dimensions)), rng.random((n_points, n_dimensions))


@pytest.mark.parametrize(("n_landmarks", "n_dimensions"), [(3, 2), (4, 3), (11, 10), (20, 10)])
def test_trilateration_recovers_points_exactly_from_exact_distances(n_landmarks: int, n_dimensions: int) -> None:
    landmarks, points = _problem(1, n_landmarks, n_dimensions, 50)
    distances = landmark_distances(points, landmarks)
    np.testing.assert_allclose(trilaterate_linear(landmarks, distances), points, atol=1e-8, rtol=0)
    np.testing.assert_allclose(trilaterate(landmarks, distances), points, atol=1e-8, rtol=0)
    np.testing.assert_allclose(trilaterate(landmarks, distances[:5], solver="scipy"), points[:5], atol=1e-8, rtol=0)


def test_refinement_repairs_a_bad_start_and_matches_scipy() -> None:
    landmarks, points = _problem(2, 6, 3, 20)
    distances = landmark_distances(points, landmarks)
    start = points + np.random.default_rng(0).normal(0, 0.2, points.shape)
    np.testing.assert_allclose(refine_positions(landmarks, distances, start), points, atol=1e-8, rtol=0)
    noisy = add_range_noise(distances, 0.01, np.random.default_rng(1))
    ours = refine_positions(landmarks, noisy, trilaterate_linear(landmarks, noisy))
    reference = refine_positions(landmarks, noisy, trilaterate_linear(landmarks, noisy), solver="scipy")
    np.testing.assert_allclose(ours, reference, atol=1e-7, rtol=0)


def test_trilateration_needs_d_plus_one_landmarks() -> None:
    landmarks, points = _problem(3, 3, 3, 4)
    with pytest.raises(ConfigError, match="at least 4 landmarks"):
        trilaterate_linear(landmarks, landmark_distances(points, landmarks))


def test_classical_mds_recovers_configuration_up_to_rigid_motion() -> None:
    _, points = _problem(4, 1, 10, 60)
    embedding = classical_mds(landmark_distances(points, points), 10)
    np.testing.assert_allclose(pdist(embedding), pdist(points), atol=1e-8, rtol=0)
    np.testing.assert_allclose(align_rigidly(embedding, embedding, points), points, atol=1e-8, rtol=0)


def test_classical_mds_of_a_three_four_five_triangle() -> None:
    triangle = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    embedding = classical_mds(landmark_distances(triangle, triangle), 2)
    np.testing.assert_allclose(pdist(embedding), [3.0, 4.0, 5.0], atol=1e-12)
    np.testing.assert_allclose(embedding.mean(axis=0), [0.0, 0.0], atol=1e-12)


def test_landmark_mds_places_new_points_exactly() -> None:
    landmarks, points = _problem(5, 11, 10, 100)
    embedding = LandmarkMDS(10).fit(landmark_distances(landmarks, landmarks))
    placed = embedding.transform(landmark_distances(points, landmarks))
    assert embedding.landmark_coordinates is not None
    aligned = align_rigidly(placed, embedding.landmark_coordinates, landmarks)
    np.testing.assert_allclose(aligned, points, atol=1e-8, rtol=0)


def test_cramer_rao_bound_by_hand_and_its_scaling() -> None:
    # Four landmarks around the origin at unit distance: J = 2 I / sigma^2, so sqrt(trace(J^-1)) = sigma.
    square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    origin = np.zeros((1, 2))
    assert position_error_bounds(square, origin, 0.1)[0] == pytest.approx(0.1)
    assert position_error_bounds(square, origin, 0.3)[0] == pytest.approx(0.3)
    assert position_error_bounds(square, origin, 0.0)[0] == 0.0
    landmarks, points = _problem(6, 40, 10, 100)
    assert rmse_bound(landmarks, points, 0.02) == pytest.approx(2 * rmse_bound(landmarks, points, 0.01))
    bounds = [rmse_bound(landmarks[:count], points, 0.01) for count in (11, 15, 20, 40)]
    assert all(later < earlier for earlier, later in itertools.pairwise(bounds))


def test_refined_trilateration_attains_the_bound_at_low_noise() -> None:
    landmarks, points = _problem(7, 20, 10, 400)
    noisy = add_range_noise(landmark_distances(points, landmarks), 1e-3, np.random.default_rng(0))
    refined = coordinate_rmse(points, trilaterate(landmarks, noisy))
    linear = coordinate_rmse(points, trilaterate_linear(landmarks, noisy))
    bound = rmse_bound(landmarks, points, 1e-3)
    assert bound * 0.85 < refined < bound * 1.15
    assert linear > refined


def test_post_error_is_pair_error_times_half_the_points() -> None:
    true = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    predicted = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    # Pair gaps: |1-2| = 1, |1-1| = 0, |sqrt2-sqrt5| ; summed over pairs, divided by 3 points.
    expected_sum = 1.0 + abs(np.sqrt(2) - np.sqrt(5))
    assert post_error(true, predicted) == pytest.approx(expected_sum / 3)
    assert pair_distance_error(true, predicted) == pytest.approx(expected_sum / 3)
    _, many = _problem(8, 1, 4, 30)
    shifted = many + 0.1 * np.random.default_rng(0).random(many.shape)
    assert post_error(many, shifted) == pytest.approx(29 / 2 * pair_distance_error(many, shifted))


def test_broadcast_bug_compares_every_prediction_with_every_target() -> None:
    predicted = torch.tensor([1.0, 2.0, 4.0])
    targets = torch.tensor([1.0, 2.0, 4.0])
    loss = DistanceRegressionLoss(penalty="absolute")
    assert float(pair_regression_loss(predicted, targets, loss, broadcast_bug=False)) == 0.0
    by_hand = np.mean([abs(p - t) for p in (1.0, 2.0, 4.0) for t in (1.0, 2.0, 4.0)])
    assert float(pair_regression_loss(predicted, targets, loss, broadcast_bug=True)) == pytest.approx(by_hand)


def test_all_ablation_fixes_together_are_the_fixed_preset() -> None:
    configs = ablation_configs(leave_one_out=True)
    assert configs[0][2] == LandmarkExperimentConfig.original()
    assert configs[-1][2] == LandmarkExperimentConfig.fixed()
    assert len({name for name, _, _ in configs}) == len(configs)


def test_fixed_network_beats_random_guessing_by_far() -> None:
    result = run_landmark_experiment(LandmarkExperimentConfig.fixed(**SMALL))
    assert result.ratio_to_random < 0.3
    assert result.post_error < 0.5 * result.post_random_error
    assert 0.8 < result.spread_ratio < 1.2


def test_original_set_up_is_not_far_below_random() -> None:
    result = run_landmark_experiment(LandmarkExperimentConfig.original(evaluation_points=300))
    assert result.steps == 100 * 4  # 30 training points: 435 pairs, 4 batches of 128 per epoch
    assert result.ratio_to_random > 0.7


def test_widened_network_computes_the_same_until_fine_tuned() -> None:
    config = LandmarkExperimentConfig.fixed(**SMALL)
    rng = np.random.default_rng(0)
    landmarks = rng.random((8, 3))
    old_distances = landmark_distances(rng.random((200, 3)), landmarks[:5])
    network = build_landmark_network(config, old_distances)
    new_training = landmark_distances(rng.random((200, 3)), landmarks)
    widened = widen_network_inputs(network, new_training)
    queries = landmark_distances(rng.random((10, 3)), landmarks)
    np.testing.assert_allclose(
        predict_coordinates(widened, queries), predict_coordinates(network, queries[:, :5]), atol=1e-5
    )


def test_added_landmarks_help_the_classical_solvers_and_the_fine_tuned_network() -> None:
    scenario = LateLandmarksConfig(
        initial_landmarks=4, added_landmarks=(0, 6), n_dimensions=3, noise=0.01, training_points=1024, test_points=200
    )
    network = LandmarkExperimentConfig.fixed(**{**SMALL, "steps": 300})
    rows = {(row.added, row.method): row for row in run_late_landmarks(scenario, network)}
    assert rows[(6, "trilateration_refined")].coordinate_rmse < rows[(0, "trilateration_refined")].coordinate_rmse
    assert rows[(6, "trilateration_refined")].rmse_bound < rows[(0, "trilateration_refined")].rmse_bound
    assert rows[(6, "network_frozen")].coordinate_rmse == rows[(0, "network_frozen")].coordinate_rmse
    assert rows[(0, "network_fine_tuned")].coordinate_rmse == rows[(0, "network_frozen")].coordinate_rmse
    assert rows[(6, "network_fine_tuned")].coordinate_rmse < 0.7 * rows[(6, "network_frozen")].coordinate_rmse


def test_method_comparison_orders_the_classical_methods() -> None:
    setting = ComparisonSetting(n_landmarks=15, n_dimensions=5, noise=0.01, test_points=200)
    result = evaluate_setting(
        setting, methods=["random", "trilateration_linear", "trilateration_refined", "landmark_mds"]
    )
    scores = {score.method: score for score in result.scores}
    assert scores["trilateration_refined"].coordinate_rmse < scores["trilateration_linear"].coordinate_rmse
    assert scores["landmark_mds"].coordinate_rmse == pytest.approx(scores["trilateration_linear"].coordinate_rmse)
    assert scores["trilateration_linear"].pair_error < 0.5 * scores["random"].pair_error
    with pytest.raises(ConfigError, match="unknown"):
        evaluate_setting(setting, methods=["magic"])


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("landmarks")(landmarks_command)

    @app.command("noop")
    def noop() -> None:
        """A second command, so typer keeps `landmarks` as a named subcommand."""

    return app


def test_cli_experiment_prints_json_with_the_expected_keys() -> None:
    arguments = ["landmarks", "--preset", "fixed", "--dimensions", "3", "--n-landmarks", "5", "--steps", "50"]
    arguments += ["--training-points", "256", "--evaluation-points", "50", "--hidden-sizes", "16,16", "--json"]
    outcome = CliRunner().invoke(_cli(), [*arguments, "--seeds", "0,1"])
    assert outcome.exit_code == 0, outcome.output
    payload = json.loads(outcome.output)
    assert payload["task"] == "experiment"
    assert payload["seeds"] == [0, 1]
    assert payload["config"]["n_points"] == 35
    assert {"post_error", "post_random_error", "pair_error", "pair_random_error", "ratio_to_random"} <= set(
        payload["runs"][0]
    )
    assert {"pair_error_mean", "pair_error_std", "ratio_to_random_mean"} <= set(payload["summary"])


def test_cli_compare_sweeps_noise_as_json() -> None:
    arguments = ["landmarks", "--task", "compare", "--methods", "random,trilateration_refined", "--json"]
    arguments += ["--sweep", "noise", "--sweep-values", "0,0.01", "--test-points", "40"]
    outcome = CliRunner().invoke(_cli(), arguments)
    assert outcome.exit_code == 0, outcome.output
    rows = json.loads(outcome.output)["rows"]
    assert [(row["value"], row["method"]) for row in rows] == [
        (0.0, "random"),
        (0.0, "trilateration_refined"),
        (0.01, "random"),
        (0.01, "trilateration_refined"),
    ]
    assert rows[1]["rmse_mean"] < 1e-8


def test_cli_rejects_bad_options_with_config_errors() -> None:
    outcome = CliRunner().invoke(_cli(), ["landmarks", "--task", "nonsense"])
    assert isinstance(outcome.exception, ConfigError)
    outcome = CliRunner().invoke(_cli(), ["landmarks", "--seeds", "a,b"])
    assert isinstance(outcome.exception, ConfigError)
    outcome = CliRunner().invoke(_cli(), ["landmarks", "--output-activation", "softmax"])
    assert isinstance(outcome.exception, ConfigError)


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        LandmarkExperimentConfig.original(batch_size=0).validate()
    with pytest.raises(ConfigError, match="n_points"):
        dataclasses.replace(LandmarkExperimentConfig.original(), n_points=5).validate()


def test_diagnostics_random_guessing_is_worse_than_a_constant_and_post_error_grows() -> None:
    statistics = distance_statistics(n_points=400)
    assert 1.2 < statistics["mean"] < 1.32
    assert statistics["constant_pair_error"] < statistics["random_pair_error"]
    small, large = post_error_growth((11, 41), repeats=5)
    assert large["post_error_mean"] > 3 * small["post_error_mean"]
    assert large["pair_error_mean"] == pytest.approx(small["pair_error_mean"], rel=0.2)


def test_diagnostics_more_landmarks_mean_better_geometry() -> None:
    rows = landmark_geometry((11, 40), draws=5)
    assert rows[0]["smallest_to_largest_singular_value"] < rows[1]["smallest_to_largest_singular_value"]
    assert rows[0]["rmse_bound_per_sigma_median"] > rows[1]["rmse_bound_per_sigma_median"]


def test_sweep_plot_is_written(tmp_path: Path) -> None:
    from PIL import Image

    from siamkit.applications.landmarks.comparison import SweepRow
    from siamkit.applications.landmarks.plots import plot_sweep

    rows = [
        SweepRow("noise", value, method, 0.1 * value + 0.001, 0.01, 0.2 * value + 0.001, 0.01, 0.15 * value, 3)
        for method in ("network", "trilateration_refined")
        for value in (0.001, 0.01, 0.1)
    ]
    path = plot_sweep(rows, tmp_path / "sweep.png", "noise sweep")
    with Image.open(path) as image:
        assert image.size[0] > 600 and image.size[1] > 300
