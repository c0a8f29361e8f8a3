"""The blog post's landmark experiment, rebuilt from siamkit's parts.

A point in `[0, 1]^d` is described only by its distances to `m` landmarks. A shared-weight MLP encoder maps
such a distance vector to `d` coordinates; it is trained as a Siamese network on pairs of points, with a
distance-regression loss that pulls the distance between the two predicted positions towards the points'
true distance. The coordinates it learns are therefore defined up to a rotation, reflection and translation,
and the experiment scores them by how well they reproduce pairwise distances between held-out points.

`LandmarkExperimentConfig.original()` reproduces the post's set-up, defects included (squared embedding
distance against plain distance targets, Keras' `(batch, 1)` target broadcasting, sigmoid outputs, 30
training points, 400 steps, raw distance inputs); `LandmarkExperimentConfig.fixed()` repairs all of them.
docs/landmarks.md explains each one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from siamkit.applications.landmarks.geometry import (
    add_range_noise,
    align_rigidly,
    coordinate_rmse,
    distance_spread_ratio,
    landmark_distances,
    pair_distance_error,
    post_error,
    sample_unit_cube,
)
from siamkit.applications.landmarks.network_inputs import InputWhitening, SquaredInputs
from siamkit.comparisons import ComparisonConfig, create_comparison
from siamkit.encoders import EncoderConfig, create_encoder
from siamkit.errors import ConfigError
from siamkit.losses import DistanceRegressionLoss
from siamkit.network import SiameseConfig, SiameseNetwork

logger = logging.getLogger(__name__)

DISTANCE_FORMS = ("mismatched", "euclidean", "squared")
OUTPUT_ACTIVATIONS = ("sigmoid", "none", "tanh", "relu")
PENALTIES = ("absolute", "squared", "huber")
LEARNING_RATE_SCHEDULES = ("constant", "cosine")
INPUT_TRANSFORMS = ("distance", "squared")
SUMMARY_FIELDS = (
    "post_error",
    "post_random_error",
    "pair_error",
    "pair_random_error",
    "ratio_to_random",
    "coordinate_rmse",
    "spread_ratio",
)


@dataclass
class LandmarkExperimentConfig:
    """Every knob of the landmark experiment. Defaults are the blog post's values.

    Attributes:
        n_landmarks: Number of landmarks; a point's input is its distance to each.
        n_points: Points drawn in the post's way; the first `n_landmarks` are the landmarks, the rest are split
            into training and test points.
        n_dimensions: Dimension of the space, and so of the encoder's output.
        test_fraction: Share of the `n_points` held out as test points (the post's `train_test_split` default).
        hidden_dims: Widths of the encoder's hidden layers.
        output_activation: `sigmoid` (the post's), `none`, `tanh` or `relu` on the encoder's output.
        distance_form: `mismatched` compares the squared embedding distance with the plain true distance (the
            post's loss); `euclidean` compares plain with plain and `squared` squared with squared.
        penalty: `absolute` (the post's), `squared` or `huber` penalty on the distance gap.
        broadcast_bug: Reproduce Keras passing targets as `(batch, 1)` into a loss computed on `(batch,)`,
            which broadcasts to a `(batch, batch)` comparison of every prediction with every target.
        training_points: 0 trains on the post's split (about 30 points); a positive number draws that many
            fresh training points from the same distribution instead (the landmarks stay fixed).
        epochs: Passes over all training pairs, used when `steps` is 0 (the post's regime).
        steps: When positive, train for exactly this many steps of `batch_size` random pairs instead.
        batch_size: Pairs per step.
        learning_rate: Adam's learning rate (Keras' default is 1e-3).
        learning_rate_schedule: `constant` (the post's) or `cosine` (decay to zero over training).
        input_transform: `distance` feeds the raw distances (the post's); `squared` feeds squared distances,
            from which coordinates are an affine function (the identity landmark MDS is built on).
        whiten_inputs: Whiten the (transformed) inputs with the training set's mean and covariance, so the
            direction in which distances barely change (nearly coplanar landmarks) is not learned last.
        noise: Standard deviation of Gaussian noise added to every measured landmark distance, in training
            (fresh noise each step) and at test time.
        evaluation_points: Fresh points on which the size-independent pair error is measured, so that the
            verdict does not hinge on the post's 11 test points.
        seed: Seeds the data, the weights and the pair order.
    """

    n_landmarks: int = 11
    n_points: int = 41
    n_dimensions: int = 10
    test_fraction: float = 0.25
    hidden_dims: tuple[int, ...] = (200, 200)
    output_activation: str = "sigmoid"
    distance_form: str = "mismatched"
    penalty: str = "absolute"
    broadcast_bug: bool = True
    training_points: int = 0
    epochs: int = 100
    steps: int = 0
    batch_size: int = 128
    learning_rate: float = 1e-3
    learning_rate_schedule: str = "constant"
    input_transform: str = "distance"
    whiten_inputs: bool = False
    noise: float = 0.0
    evaluation_points: int = 1000
    seed: int = 0

    @classmethod
    def original(cls, **overrides: Any) -> LandmarkExperimentConfig:
        """The post's set-up, defects included."""
        return dataclasses.replace(cls(), **overrides)

    @classmethod
    def fixed(cls, **overrides: Any) -> LandmarkExperimentConfig:
        """All fixes: like-for-like Euclidean loss, correct per-pair loss, linear output, fresh training points,
        a few thousand steps with a decaying learning rate, and squared, whitened inputs."""
        base = cls(
            distance_form="euclidean",
            broadcast_bug=False,
            output_activation="none",
            training_points=4096,
            steps=1500,
            learning_rate=3e-3,
            learning_rate_schedule="cosine",
            input_transform="squared",
            whiten_inputs=True,
        )
        return dataclasses.replace(base, **overrides)

    def validate(self) -> None:
        """Raises a ConfigError naming the first field with an impossible value."""
        checks = [
            (self.n_dimensions >= 1, "n_dimensions must be >= 1"),
            (self.n_landmarks >= 2, "n_landmarks must be >= 2"),
            (self.n_points >= self.n_landmarks, "n_points counts the landmarks too, so it must be >= n_landmarks"),
            (0.0 < self.test_fraction < 1.0, "test_fraction must be between 0 and 1"),
            (self.output_activation in OUTPUT_ACTIVATIONS, f"output_activation must be one of {OUTPUT_ACTIVATIONS}"),
            (self.distance_form in DISTANCE_FORMS, f"distance_form must be one of {DISTANCE_FORMS}"),
            (self.penalty in PENALTIES, f"penalty must be one of {PENALTIES}"),
            (self.training_points >= 0, "training_points must be >= 0"),
            (self.epochs >= 1 or self.steps > 0, "epochs must be >= 1 when steps is 0"),
            (self.steps >= 0, "steps must be >= 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (
                self.learning_rate_schedule in LEARNING_RATE_SCHEDULES,
                f"learning_rate_schedule must be one of {LEARNING_RATE_SCHEDULES}",
            ),
            (self.input_transform in INPUT_TRANSFORMS, f"input_transform must be one of {INPUT_TRANSFORMS}"),
            (self.noise >= 0, "noise must be >= 0"),
            (self.evaluation_points >= 2, "evaluation_points must be >= 2"),
            (all(width >= 1 for width in self.hidden_dims), "hidden_dims must all be >= 1"),
        ]
        for passed, message in checks:
            if not passed:
                raise ConfigError(f"landmark experiment: {message}")
        split = self.split_sizes()
        if split[0] < 2 or split[1] < 2:
            raise ConfigError(
                f"landmark experiment: n_points={self.n_points} with test_fraction={self.test_fraction} leaves "
                f"{split[0]} training and {split[1]} test points; each needs at least 2"
            )

    def split_sizes(self) -> tuple[int, int]:
        """(training, test) sizes of the post's split of `n_points` (test size rounded up, as scikit-learn)."""
        n_test = math.ceil(self.test_fraction * self.n_points)
        return self.n_points - n_test, n_test

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hidden_dims"] = list(self.hidden_dims)
        return data


@dataclass
class LandmarkData:
    """The points of one run.

    Attributes:
        landmarks: `(m, d)` landmark positions (the first points drawn, as in the post).
        training_points: Points whose pairs train the network.
        test_points: The post's held-out points (the post's error is measured on these).
        evaluation_points: Fresh points for the size-independent pair error and the coordinate error.
    """

    landmarks: np.ndarray
    training_points: np.ndarray
    test_points: np.ndarray
    evaluation_points: np.ndarray


@dataclass
class LandmarkExperimentResult:
    """Scores of one trained network and of uniform random guessing on the same points.

    Attributes:
        post_error: The post's measure on the post's test points.
        post_random_error: The same measure for random points in the unit cube (the post's baseline).
        pair_error: Mean |true - predicted| distance per pair over the evaluation points.
        pair_random_error: The same for random points.
        coordinate_rmse: Position error after the rigid motion that maps the network's coordinates of the
            training points onto their true positions (see `align_to_known_points`).
        spread_ratio: Spread of predicted over true pairwise distances (near 0: collapsed prediction).
        final_loss: Mean training loss over the last tenth of the steps.
        steps: Optimiser steps taken.
        training_pairs: Distinct training pairs available.
        seed: The run's seed.
    """

    post_error: float
    post_random_error: float
    pair_error: float
    pair_random_error: float
    coordinate_rmse: float
    spread_ratio: float
    final_loss: float
    steps: int
    training_pairs: int
    seed: int

    @property
    def ratio_to_random(self) -> float:
        """Pair error relative to random guessing: 1 is no better than chance."""
        return self.pair_error / self.pair_random_error

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ratio_to_random"] = self.ratio_to_random
        return data


def summarize_results(results: Sequence[LandmarkExperimentResult]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of every score of `results`, plus the seeds and step count."""
    if not results:
        raise ConfigError("no results to summarise")
    summary: dict[str, Any] = {}
    for field in SUMMARY_FIELDS:
        values = np.array([getattr(result, field) for result in results], dtype=float)
        summary[f"{field}_mean"] = float(values.mean())
        summary[f"{field}_std"] = float(values.std())
    summary["seeds"] = [result.seed for result in results]
    summary["steps"] = results[0].steps
    summary["training_pairs"] = results[0].training_pairs
    return summary


def make_landmark_data(config: LandmarkExperimentConfig, rng: np.random.Generator) -> LandmarkData:
    """Draws the post's points (landmarks first), splits them, and adds fresh points where asked."""
    points = sample_unit_cube(rng, config.n_points, config.n_dimensions)
    # The post's landmarks are its first points, so they also take part in the train/test split.
    landmarks = points[: config.n_landmarks]
    n_training, _ = config.split_sizes()
    order = rng.permutation(config.n_points)
    training_points, test_points = points[order[:n_training]], points[order[n_training:]]
    # Evaluation points are drawn before any fresh training points, so every configuration with the same seed
    # is scored on the very same points.
    evaluation_points = sample_unit_cube(rng, config.evaluation_points, config.n_dimensions)
    if config.training_points > 0:
        training_points = sample_unit_cube(rng, config.training_points, config.n_dimensions)
    return LandmarkData(landmarks, training_points, test_points, evaluation_points)


def build_landmark_network(
    config: LandmarkExperimentConfig, training_distances: np.ndarray | None = None
) -> SiameseNetwork:
    """The Siamese network: a shared MLP from landmark distances to coordinates, compared by (squared)
    Euclidean distance. Weights start as Keras starts them (Glorot-uniform, zero biases).

    Args:
        config: The experiment's settings (sizes, activation, distance form, input preparation).
        training_distances: Landmark distances of the training points, `(n, m)`; needed to fit the input
            whitening when `config.whiten_inputs` is set.
    """
    encoder_config = EncoderConfig(
        name="mlp",
        input_shape=(config.n_landmarks,),
        embedding_dim=config.n_dimensions,
        options={"hidden_dims": list(config.hidden_dims), "output_activation": config.output_activation},
    )
    comparison_config = ComparisonConfig("euclidean" if config.distance_form == "euclidean" else "squared_euclidean")
    encoder = create_encoder(encoder_config)
    for module in encoder.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    comparison = create_comparison(comparison_config, config.n_dimensions)
    front: list[nn.Module] = []
    if config.input_transform == "squared":
        front.append(SquaredInputs())
    if config.whiten_inputs:
        if training_distances is None:
            raise ConfigError("landmark experiment: whiten_inputs needs the training distances to fit the whitening")
        prepared = training_distances**2 if config.input_transform == "squared" else training_distances
        front.append(InputWhitening.fit(prepared))
    if front:
        # Custom front layers: the network can no longer be rebuilt from a SiameseConfig alone.
        return SiameseNetwork(nn.Sequential(*front, encoder), comparison)
    return SiameseNetwork(encoder, comparison, config=SiameseConfig(encoder_config, comparison_config))


def total_steps(config: LandmarkExperimentConfig, n_training_points: int) -> int:
    """Optimiser steps a run takes: `steps`, or `epochs` passes over all distinct pairs in batches."""
    if config.steps > 0:
        return config.steps
    n_pairs = n_training_points * (n_training_points - 1) // 2
    return config.epochs * math.ceil(n_pairs / config.batch_size)


def pair_regression_loss(
    predicted: torch.Tensor, targets: torch.Tensor, loss: DistanceRegressionLoss, broadcast_bug: bool
) -> torch.Tensor:
    """The distance-regression loss of a batch of pairs, optionally with the post's broadcasting defect.

    Keras hands a 1-D target array to the loss as `(batch, 1)`; the post's loss subtracts it from a
    `(batch,)` tensor, which broadcasts to `(batch, batch)`: every pair's predicted distance is pulled
    towards every other pair's target. The optimum of that loss predicts the same distance (the batch's
    median target, for the absolute penalty) for every pair, whatever the input.
    """
    if not broadcast_bug:
        return loss(predicted, targets)
    size = predicted.shape[0]
    return loss(predicted[None, :].expand(size, size).reshape(-1), targets[:, None].expand(size, size).reshape(-1))


def train_landmark_network(
    config: LandmarkExperimentConfig,
    landmarks: np.ndarray,
    training_points: np.ndarray,
    rng: np.random.Generator,
    network: SiameseNetwork | None = None,
) -> tuple[SiameseNetwork, float, int]:
    """Trains on pairs of `training_points`; returns the network, its final loss and the step count.

    Args:
        config: Training settings.
        landmarks: `(m, d)` landmark positions, used only to compute the distances the network sees.
        training_points: `(n, d)` points whose pairs and true pair distances train the network.
        rng: Source of pair order and measurement noise.
        network: Continue training this network (fine-tuning) instead of building a fresh one.
    """
    distances = landmark_distances(training_points, landmarks)
    if network is None:
        network = build_landmark_network(config, add_range_noise(distances, config.noise, rng))
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    schedule = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps(config, len(training_points)))
        if config.learning_rate_schedule == "cosine"
        else None
    )
    loss = DistanceRegressionLoss(penalty=config.penalty)
    positions = torch.as_tensor(training_points, dtype=torch.float32)
    network.train()
    losses: list[float] = []
    for first, second in _pair_batches(config, len(training_points), rng):
        inputs = add_range_noise(np.concatenate([distances[first], distances[second]]), config.noise, rng)
        first_inputs, second_inputs = torch.as_tensor(inputs, dtype=torch.float32).split(len(first))
        targets = (positions[first] - positions[second]).pow(2).sum(dim=1)
        if config.distance_form != "squared":
            targets = targets.sqrt()
        batch_loss = pair_regression_loss(network(first_inputs, second_inputs), targets, loss, config.broadcast_bug)
        optimizer.zero_grad()
        batch_loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        losses.append(float(batch_loss.detach()))
    tail = max(1, len(losses) // 10)
    final_loss = float(np.mean(losses[-tail:])) if losses else float("nan")
    logger.debug("trained %d steps on %d points, final loss %.5f", len(losses), len(training_points), final_loss)
    return network, final_loss, len(losses)


def predict_coordinates(network: SiameseNetwork, distances: np.ndarray) -> np.ndarray:
    """The encoder's coordinates `(n, d)` for landmark distance vectors `(n, m)`."""
    network.eval()
    with torch.no_grad():
        return network.embed(torch.as_tensor(distances, dtype=torch.float32)).double().numpy()


def align_to_known_points(
    network: SiameseNetwork, landmarks: np.ndarray, known_points: np.ndarray, predictions: np.ndarray
) -> np.ndarray:
    """Moves `predictions` into the true frame by the rigid motion that best maps the network's coordinates
    of `known_points` onto their true positions.

    The network's coordinates are only defined up to a rotation, reflection and translation. The training
    points are the natural anchors: their positions are known (their distances are the training targets)
    and they come from the same distribution as the test points. The landmarks themselves are poor
    anchors, since a distance of zero is far outside what a network trained on uniform points has seen.
    At most 1000 anchors are used.
    """
    anchors = known_points[:1000]
    predicted_anchors = predict_coordinates(network, landmark_distances(anchors, landmarks))
    return align_rigidly(predictions, predicted_anchors, anchors)


def run_landmark_experiment(config: LandmarkExperimentConfig) -> LandmarkExperimentResult:
    """Draws the data, trains the network and scores it against uniform random guessing."""
    config.validate()
    # Independent streams for data, training and evaluation: configurations that differ only in training
    # are compared on identical points, noise and random guesses (paired comparison across the ablation).
    data_seed, training_seed, evaluation_seed = np.random.SeedSequence(config.seed).spawn(3)
    data = make_landmark_data(config, np.random.default_rng(data_seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network, final_loss, steps = train_landmark_network(
            config, data.landmarks, data.training_points, np.random.default_rng(training_seed)
        )
    rng = np.random.default_rng(evaluation_seed)
    test_inputs = add_range_noise(landmark_distances(data.test_points, data.landmarks), config.noise, rng)
    evaluation_inputs = add_range_noise(landmark_distances(data.evaluation_points, data.landmarks), config.noise, rng)
    test_predictions = predict_coordinates(network, test_inputs)
    evaluation_predictions = predict_coordinates(network, evaluation_inputs)
    random_test = sample_unit_cube(rng, *data.test_points.shape)
    random_evaluation = sample_unit_cube(rng, *data.evaluation_points.shape)
    aligned = align_to_known_points(network, data.landmarks, data.training_points, evaluation_predictions)
    n_training = len(data.training_points)
    return LandmarkExperimentResult(
        post_error=post_error(data.test_points, test_predictions),
        post_random_error=post_error(data.test_points, random_test),
        pair_error=pair_distance_error(data.evaluation_points, evaluation_predictions),
        pair_random_error=pair_distance_error(data.evaluation_points, random_evaluation),
        coordinate_rmse=coordinate_rmse(data.evaluation_points, aligned),
        spread_ratio=distance_spread_ratio(data.evaluation_points, evaluation_predictions),
        final_loss=final_loss,
        steps=steps,
        training_pairs=n_training * (n_training - 1) // 2,
        seed=config.seed,
    )


def _pair_batches(
    config: LandmarkExperimentConfig, n_points: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Index pairs per step: epochs over all distinct pairs (the post's regime), or random pairs per step."""
    if config.steps > 0:
        for _ in range(config.steps):
            first = rng.integers(0, n_points, config.batch_size)
            # An offset in [1, n) guarantees two different points.
            second = (first + rng.integers(1, n_points, config.batch_size)) % n_points
            yield first, second
        return
    first_all, second_all = np.triu_indices(n_points, k=1)
    if len(first_all) > 5_000_000:
        raise ConfigError(
            f"landmark experiment: {n_points} training points give {len(first_all)} pairs per epoch; "
            "set steps to train on random pairs instead"
        )
    for _ in range(config.epochs):
        order = rng.permutation(len(first_all))
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            yield first_all[batch], second_all[batch]
