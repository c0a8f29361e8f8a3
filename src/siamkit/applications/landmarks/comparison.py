"""Every way of locating a point from its landmark distances, scored on the same points.

Methods:
    random: uniform points in the unit cube (the blog post's baseline).
    network: the Siamese network of `experiment.py`, trained on pairs of fresh points, aligned to the true
        frame through its coordinates of its training points (whose positions are known).
    trilateration_linear: the closed-form linearised least-squares solution (knows the landmark positions).
    trilateration_refined: the linear solution refined by nonlinear least squares (maximum likelihood).
    landmark_mds: landmark MDS (de Silva & Tenenbaum); uses only distances, like the network, and is aligned
        through its embedding of the landmarks, which is exact because the map's distances are exact.

Each setting also gets the Cramér-Rao bound on the position RMSE for its landmarks, points and noise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from siamkit.applications.landmarks.cramer_rao import rmse_bound
from siamkit.applications.landmarks.experiment import (
    LandmarkExperimentConfig,
    align_to_known_points,
    predict_coordinates,
    train_landmark_network,
)
from siamkit.applications.landmarks.geometry import (
    add_range_noise,
    align_rigidly,
    coordinate_rmse,
    landmark_distances,
    pair_distance_error,
    sample_unit_cube,
)
from siamkit.applications.landmarks.mds import LandmarkMDS
from siamkit.applications.landmarks.trilateration import refine_positions, trilaterate_linear
from siamkit.errors import ConfigError

METHODS = ("random", "network", "trilateration_linear", "trilateration_refined", "landmark_mds")
SWEEP_PARAMETERS = ("noise", "n_landmarks", "n_dimensions", "training_points")


@dataclass
class ComparisonSetting:
    """One problem on which all methods are scored.

    Attributes:
        n_landmarks: Landmarks, drawn uniformly in the unit cube.
        n_dimensions: Dimension of the space.
        noise: Standard deviation of Gaussian noise on each measured point-landmark distance.
        training_points: Fresh points whose pairs train the network.
        test_points: Points to locate.
        seed: Seeds landmarks, points, noise and the network.
    """

    n_landmarks: int = 11
    n_dimensions: int = 10
    noise: float = 0.0
    training_points: int = 4096
    test_points: int = 500
    seed: int = 0

    def validate(self) -> None:
        """Raises a ConfigError naming the first impossible field."""
        if self.n_dimensions < 1:
            raise ConfigError(f"comparison: n_dimensions must be >= 1, got {self.n_dimensions}")
        if self.n_landmarks < self.n_dimensions + 1:
            raise ConfigError(
                f"comparison: {self.n_dimensions} dimensions need at least {self.n_dimensions + 1} landmarks, "
                f"got n_landmarks={self.n_landmarks}"
            )
        if self.noise < 0:
            raise ConfigError(f"comparison: noise must be >= 0, got {self.noise}")
        if self.test_points < 2 or self.training_points < 2:
            raise ConfigError("comparison: test_points and training_points must be >= 2")


@dataclass
class MethodScore:
    """How well one method located the test points of one setting.

    Attributes:
        method: Method name (see `METHODS`).
        pair_error: Mean |true - predicted| pairwise distance per pair (the post's measure, size-independent).
        coordinate_rmse: Root mean squared position error in the landmarks' frame.
    """

    method: str
    pair_error: float
    coordinate_rmse: float


@dataclass
class SettingResult:
    """All methods' scores on one setting, with the Cramér-Rao bound on the coordinate RMSE."""

    setting: ComparisonSetting
    scores: list[MethodScore]
    rmse_bound: float


@dataclass
class SweepRow:
    """One method at one value of the swept parameter, summarised over seeds (mean and standard deviation)."""

    parameter: str
    value: float
    method: str
    pair_error_mean: float
    pair_error_std: float
    rmse_mean: float
    rmse_std: float
    rmse_bound_mean: float
    seeds: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_methods(methods: Sequence[str]) -> None:
    """Raises a ConfigError for an unknown method name."""
    unknown = [method for method in methods if method not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"unknown or no methods {unknown}; choose from {', '.join(METHODS)}")


def evaluate_setting(
    setting: ComparisonSetting,
    methods: Sequence[str] = METHODS,
    network_config: LandmarkExperimentConfig | None = None,
) -> SettingResult:
    """Scores each method on one freshly drawn problem.

    Args:
        setting: The problem's sizes, noise and seed.
        methods: Which methods to run.
        network_config: Training set-up of the network; its sizes, noise, training points and seed are taken
            from `setting`. Defaults to `LandmarkExperimentConfig.fixed()`.
    """
    setting.validate()
    check_methods(methods)
    rng = np.random.default_rng(setting.seed)
    landmarks = sample_unit_cube(rng, setting.n_landmarks, setting.n_dimensions)
    points = sample_unit_cube(rng, setting.test_points, setting.n_dimensions)
    measured = add_range_noise(landmark_distances(points, landmarks), setting.noise, rng)
    scores = []
    for method in methods:
        # Each method draws from its own stream, so its result does not depend on which others ran before it.
        method_rng = np.random.default_rng([setting.seed, METHODS.index(method)])
        predictions = _locate(method, setting, landmarks, measured, method_rng, network_config)
        scores.append(
            MethodScore(method, pair_distance_error(points, predictions), coordinate_rmse(points, predictions))
        )
    return SettingResult(setting, scores, rmse_bound(landmarks, points, setting.noise))


def sweep_settings(
    parameter: str, values: Sequence[float], base: ComparisonSetting, seeds: Sequence[int]
) -> list[ComparisonSetting]:
    """The settings of a sweep: `base` with `parameter` set to each value, for each seed.

    Sweeping `n_dimensions` keeps the number of spare landmarks fixed: `n_landmarks = d + 1 + (base spare)`,
    so that every dimension gets the same minimal geometry as the base (the post's 11 landmarks in 10-D have
    no spare at all).
    """
    if parameter not in SWEEP_PARAMETERS:
        raise ConfigError(f"cannot sweep {parameter!r}; choose one of {', '.join(SWEEP_PARAMETERS)}")
    settings = []
    spare = base.n_landmarks - base.n_dimensions - 1
    for value in values:
        for seed in seeds:
            if parameter == "noise":
                changes: dict[str, Any] = {"noise": float(value)}
            elif parameter == "n_dimensions":
                changes = {"n_dimensions": int(value), "n_landmarks": int(value) + 1 + spare}
            else:
                changes = {parameter: int(value)}
            settings.append(dataclasses.replace(base, seed=seed, **changes))
    return settings


def summarize_sweep(parameter: str, results: Sequence[SettingResult]) -> list[SweepRow]:
    """Groups results by the swept value and method, and averages over seeds."""
    groups: dict[tuple[float, str], list[tuple[MethodScore, float]]] = {}
    for result in results:
        value = float(getattr(result.setting, parameter))
        for score in result.scores:
            groups.setdefault((value, score.method), []).append((score, result.rmse_bound))
    rows = []
    for (value, method), entries in sorted(groups.items(), key=lambda item: (item[0][0], METHODS.index(item[0][1]))):
        pair_errors = np.array([score.pair_error for score, _ in entries])
        rmses = np.array([score.coordinate_rmse for score, _ in entries])
        bounds = np.array([bound for _, bound in entries])
        rows.append(
            SweepRow(
                parameter=parameter,
                value=value,
                method=method,
                pair_error_mean=float(pair_errors.mean()),
                pair_error_std=float(pair_errors.std()),
                rmse_mean=float(rmses.mean()),
                rmse_std=float(rmses.std()),
                rmse_bound_mean=float(np.sqrt(np.mean(bounds**2))) if np.all(np.isfinite(bounds)) else math.inf,
                seeds=len(entries),
            )
        )
    return rows


def run_sweep(
    parameter: str,
    values: Sequence[float],
    base: ComparisonSetting,
    seeds: Sequence[int],
    methods: Sequence[str] = METHODS,
    network_config: LandmarkExperimentConfig | None = None,
) -> list[SweepRow]:
    """Scores every method at every value of `parameter`, over `seeds` (serially)."""
    settings = sweep_settings(parameter, values, base, seeds)
    return summarize_sweep(parameter, [evaluate_setting(setting, methods, network_config) for setting in settings])


def _locate(
    method: str,
    setting: ComparisonSetting,
    landmarks: np.ndarray,
    measured: np.ndarray,
    rng: np.random.Generator,
    network_config: LandmarkExperimentConfig | None,
) -> np.ndarray:
    if method == "random":
        return sample_unit_cube(rng, measured.shape[0], setting.n_dimensions)
    if method == "trilateration_linear":
        return trilaterate_linear(landmarks, measured)
    if method == "trilateration_refined":
        return refine_positions(landmarks, measured, trilaterate_linear(landmarks, measured))
    if method == "landmark_mds":
        # The landmark map is known exactly: its mutual distances carry no measurement noise.
        embedding = LandmarkMDS(setting.n_dimensions).fit(landmark_distances(landmarks, landmarks))
        assert embedding.landmark_coordinates is not None
        return align_rigidly(embedding.transform(measured), embedding.landmark_coordinates, landmarks)
    config = dataclasses.replace(
        network_config or LandmarkExperimentConfig.fixed(),
        n_landmarks=setting.n_landmarks,
        n_dimensions=setting.n_dimensions,
        noise=setting.noise,
        training_points=setting.training_points,
        seed=setting.seed,
    )
    config.validate()
    training_points = sample_unit_cube(rng, setting.training_points, setting.n_dimensions)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(setting.seed)
        network, _, _ = train_landmark_network(config, landmarks, training_points, rng)
    return align_to_known_points(network, landmarks, training_points, predict_coordinates(network, measured))
