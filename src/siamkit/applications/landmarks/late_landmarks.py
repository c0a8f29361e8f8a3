"""Landmarks that appear after training (the blog post's autonomous-car scenario).

A car's map starts with `m0` landmarks; later `k` more are added. The classical solvers simply take the
extra ranges as extra equations (trilateration) or extra landmarks of the embedding (landmark MDS) and get
better at once, because more landmarks improve the geometry. A trained network has a fixed input width, so
it has three options, all compared here:

* frozen: keep using the original network and ignore the new ranges;
* widened and fine-tuned (what siamkit offers): `widen_network_inputs` adds input weights for the new ranges,
  initialised to zero so the network computes exactly what it did before, and the same Siamese
  distance-regression training continues for a few steps on pairs of points that now report all ranges;
* retrained: a fresh network on all ranges, given the same number of steps as the fine-tuning.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

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
from siamkit.applications.landmarks.network_inputs import InputWhitening, SquaredInputs
from siamkit.applications.landmarks.trilateration import refine_positions, trilaterate_linear
from siamkit.errors import ConfigError
from siamkit.network import SiameseNetwork

LATE_METHODS = ("trilateration_refined", "landmark_mds", "network_frozen", "network_fine_tuned", "network_retrained")


@dataclass
class LateLandmarksConfig:
    """The added-landmarks scenario.

    Attributes:
        initial_landmarks: Landmarks known when the network is trained.
        added_landmarks: Numbers of landmarks added later, each scored separately (0 = none added).
        n_dimensions: Dimension of the space.
        noise: Standard deviation of the Gaussian range noise (with exact ranges extra landmarks cannot help
            the classical solvers, which are already exact).
        training_points: Fresh points for the initial training and again for fine-tuning or retraining.
        adaptation_steps: Steps given to fine-tuning and to retraining after the landmarks appear.
        test_points: Points to locate.
        seed: Seeds landmarks, points, noise and networks.
    """

    initial_landmarks: int = 11
    added_landmarks: tuple[int, ...] = (0, 5, 10, 20)
    n_dimensions: int = 10
    noise: float = 0.01
    training_points: int = 4096
    adaptation_steps: int = 500
    test_points: int = 500
    seed: int = 0

    def validate(self) -> None:
        """Raises a ConfigError naming the first impossible field."""
        if self.initial_landmarks < self.n_dimensions + 1:
            raise ConfigError(
                f"late landmarks: initial_landmarks must be >= n_dimensions + 1 = {self.n_dimensions + 1}, "
                f"got {self.initial_landmarks}"
            )
        if not self.added_landmarks or min(self.added_landmarks) < 0:
            raise ConfigError(f"late landmarks: added_landmarks must be counts >= 0, got {self.added_landmarks}")
        if self.adaptation_steps < 1 or self.training_points < 2 or self.test_points < 2:
            raise ConfigError("late landmarks: adaptation_steps >= 1, training_points >= 2 and test_points >= 2")


@dataclass
class LateLandmarksRow:
    """One method's scores after `added` landmarks appeared (one seed)."""

    added: int
    method: str
    coordinate_rmse: float
    pair_error: float
    rmse_bound: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def widen_network_inputs(
    network: SiameseNetwork, new_training_distances: np.ndarray | None = None, extra_inputs: int | None = None
) -> SiameseNetwork:
    """A copy of `network` that accepts distances to additional landmarks, appended after the old ones.

    The first linear layer gets zero weights for the new inputs, so the copy's output equals the original's
    until it is trained further. Input whitening, if present, is extended block-diagonally with a whitening
    fitted on the new columns of `new_training_distances`.

    Args:
        network: A trained landmark network (see `experiment.build_landmark_network`).
        new_training_distances: Training distances to all landmarks, old then new, `(n, m0 + k)`; required
            when the network whitens its inputs, and otherwise only used to read `k`.
        extra_inputs: Number of new landmarks `k`, when `new_training_distances` is not given.
    """
    widened = copy.deepcopy(network)
    first_linear_name = next(name for name, module in widened.encoder.named_modules() if isinstance(module, nn.Linear))
    first_linear = widened.encoder.get_submodule(first_linear_name)
    assert isinstance(first_linear, nn.Linear)
    old_inputs = first_linear.in_features
    if new_training_distances is not None:
        extra_inputs = new_training_distances.shape[1] - old_inputs
    if extra_inputs is None or extra_inputs < 1:
        raise ConfigError(f"widening needs at least one new landmark, got {extra_inputs}")
    modules = dict(widened.encoder.named_modules())
    for name, module in modules.items():
        if isinstance(module, InputWhitening):
            if new_training_distances is None:
                raise ConfigError("widening a network that whitens its inputs needs the new training distances")
            new_columns = new_training_distances[:, old_inputs:]
            if any(isinstance(other, SquaredInputs) for other in modules.values()):
                new_columns = new_columns**2
            _replace_module(widened.encoder, name, module.extended(InputWhitening.fit(new_columns)))
    wider = nn.Linear(old_inputs + extra_inputs, first_linear.out_features)
    with torch.no_grad():
        wider.weight.zero_()
        wider.weight[:, :old_inputs] = first_linear.weight
        wider.bias.copy_(first_linear.bias)
    _replace_module(widened.encoder, first_linear_name, wider)
    if widened.config is not None:
        encoder_config = dataclasses.replace(widened.config.encoder, input_shape=(old_inputs + extra_inputs,))
        widened.config = dataclasses.replace(widened.config, encoder=encoder_config)
    return widened


def run_late_landmarks(
    config: LateLandmarksConfig,
    network_config: LandmarkExperimentConfig | None = None,
    methods: Sequence[str] = LATE_METHODS,
) -> list[LateLandmarksRow]:
    """Trains on the initial landmarks, then scores every method after each number of added landmarks.

    Args:
        config: The scenario.
        network_config: Training set-up for the initial network (defaults to `LandmarkExperimentConfig.fixed()`);
            sizes, noise, training points and seed come from `config`.
        methods: Subset of `LATE_METHODS` to run.
    """
    config.validate()
    unknown = [method for method in methods if method not in LATE_METHODS]
    if unknown:
        raise ConfigError(f"unknown late-landmark methods {unknown}; choose from {', '.join(LATE_METHODS)}")
    rng = np.random.default_rng(config.seed)
    total_landmarks = config.initial_landmarks + max(config.added_landmarks)
    landmarks = sample_unit_cube(rng, total_landmarks, config.n_dimensions)
    points = sample_unit_cube(rng, config.test_points, config.n_dimensions)
    measured = add_range_noise(landmark_distances(points, landmarks), config.noise, rng)
    base_config = dataclasses.replace(
        network_config or LandmarkExperimentConfig.fixed(),
        n_landmarks=config.initial_landmarks,
        n_dimensions=config.n_dimensions,
        noise=config.noise,
        training_points=config.training_points,
        seed=config.seed,
    )
    initial = landmarks[: config.initial_landmarks]
    needs_network = any(method.startswith("network") for method in methods)
    network_rng = np.random.default_rng([config.seed, 1])
    initial_training_points = sample_unit_cube(network_rng, config.training_points, config.n_dimensions)
    base_network = _train(base_config, initial, initial_training_points, network_rng) if needs_network else None
    rows = []
    for added in config.added_landmarks:
        current = landmarks[: config.initial_landmarks + added]
        current_measured = measured[:, : len(current)]
        bound = rmse_bound(current, points, config.noise)
        adapted_config = dataclasses.replace(base_config, n_landmarks=len(current), steps=config.adaptation_steps)
        adaptation_rng = np.random.default_rng([config.seed, 2, added])
        adaptation_points = sample_unit_cube(adaptation_rng, config.training_points, config.n_dimensions)
        for method in methods:
            method_rng = np.random.default_rng([config.seed, 3, added, LATE_METHODS.index(method)])
            if method == "trilateration_refined":
                predictions = refine_positions(current, current_measured, trilaterate_linear(current, current_measured))
            elif method == "landmark_mds":
                embedding = LandmarkMDS(config.n_dimensions).fit(landmark_distances(current, current))
                assert embedding.landmark_coordinates is not None
                predictions = align_rigidly(
                    embedding.transform(current_measured), embedding.landmark_coordinates, current
                )
            elif method == "network_frozen" or added == 0:
                assert base_network is not None
                predictions = _network_positions(
                    base_network, initial, initial_training_points, measured[:, : config.initial_landmarks]
                )
            else:
                assert base_network is not None
                if method == "network_fine_tuned":
                    noisy = add_range_noise(landmark_distances(adaptation_points, current), config.noise, method_rng)
                    start: SiameseNetwork | None = widen_network_inputs(base_network, noisy)
                else:
                    start = None
                network = _train(adapted_config, current, adaptation_points, method_rng, start)
                predictions = _network_positions(network, current, adaptation_points, current_measured)
            rows.append(
                LateLandmarksRow(
                    added=added,
                    method=method,
                    coordinate_rmse=coordinate_rmse(points, predictions),
                    pair_error=pair_distance_error(points, predictions),
                    rmse_bound=bound,
                    seed=config.seed,
                )
            )
    return rows


def summarize_late_landmarks(rows: Sequence[LateLandmarksRow]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per (added landmarks, method)."""
    groups: dict[tuple[int, str], list[LateLandmarksRow]] = {}
    for row in rows:
        groups.setdefault((row.added, row.method), []).append(row)
    summaries = []
    for (added, method), members in sorted(
        groups.items(), key=lambda item: (item[0][0], LATE_METHODS.index(item[0][1]))
    ):
        rmse = np.array([member.coordinate_rmse for member in members])
        pair = np.array([member.pair_error for member in members])
        bounds = np.array([member.rmse_bound for member in members])
        summaries.append(
            {
                "added": added,
                "method": method,
                "rmse_mean": float(rmse.mean()),
                "rmse_std": float(rmse.std()),
                "pair_error_mean": float(pair.mean()),
                "pair_error_std": float(pair.std()),
                "rmse_bound_mean": float(np.sqrt(np.mean(bounds**2))),
                "seeds": len(members),
            }
        )
    return summaries


def _train(
    config: LandmarkExperimentConfig,
    landmarks: np.ndarray,
    training_points: np.ndarray,
    rng: np.random.Generator,
    network: SiameseNetwork | None = None,
) -> SiameseNetwork:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        trained, _, _ = train_landmark_network(config, landmarks, training_points, rng, network)
    return trained


def _network_positions(
    network: SiameseNetwork, landmarks: np.ndarray, known_points: np.ndarray, measured: np.ndarray
) -> np.ndarray:
    return align_to_known_points(network, landmarks, known_points, predict_coordinates(network, measured))


def _replace_module(root: nn.Module, name: str, replacement: nn.Module) -> None:
    parent_name, _, child_name = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child_name, replacement)
