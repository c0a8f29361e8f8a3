"""Measurements behind the explanations in docs/landmarks.md.

Each function isolates one mechanism: how concentrated distances are in the unit cube (what "random
guessing" really is), how the post's error grows with the test-set size, how badly 11 random landmarks in
10-D are placed, whether the network's distances follow the targets of the very pairs it trains on, and
whether an embedding direction has collapsed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.spatial.distance import pdist

from siamkit.applications.landmarks.cramer_rao import rmse_bound
from siamkit.applications.landmarks.experiment import (
    LandmarkExperimentConfig,
    build_landmark_network,
    make_landmark_data,
    predict_coordinates,
    train_landmark_network,
)
from siamkit.applications.landmarks.geometry import (
    landmark_distances,
    pair_distance_error,
    post_error,
    sample_unit_cube,
)


def distance_statistics(n_dimensions: int = 10, n_points: int = 2000, seed: int = 0) -> dict[str, float]:
    """Pairwise distances of uniform points in the unit cube, and what random and constant guesses score.

    Returns the mean and standard deviation of the distances, the pair error of an independent uniform
    sample (the post's random baseline), and the pair error of predicting the median distance for every pair.
    """
    rng = np.random.default_rng(seed)
    points = sample_unit_cube(rng, n_points, n_dimensions)
    distances = pdist(points)
    return {
        "mean": float(distances.mean()),
        "std": float(distances.std()),
        "random_pair_error": pair_distance_error(points, sample_unit_cube(rng, n_points, n_dimensions)),
        "constant_pair_error": float(np.mean(np.abs(distances - np.median(distances)))),
    }


def post_error_growth(
    sizes: Sequence[int], n_dimensions: int = 10, repeats: int = 200, seed: int = 0
) -> list[dict[str, Any]]:
    """The post's error of random guessing for test sets of different sizes (mean over `repeats` draws)."""
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        post, pair = [], []
        for _ in range(repeats):
            truth = sample_unit_cube(rng, size, n_dimensions)
            guess = sample_unit_cube(rng, size, n_dimensions)
            post.append(post_error(truth, guess))
            pair.append(pair_distance_error(truth, guess))
        rows.append(
            {
                "test_points": size,
                "post_error_mean": float(np.mean(post)),
                "post_error_std": float(np.std(post)),
                "pair_error_mean": float(np.mean(pair)),
            }
        )
    return rows


def landmark_geometry(
    landmark_counts: Sequence[int], n_dimensions: int = 10, draws: int = 100, seed: int = 0
) -> list[dict[str, Any]]:
    """How well random landmarks in the unit cube pin points down, per number of landmarks.

    For each count: the median over `draws` of the smallest over the largest singular value of the centred
    landmark matrix (near 0 = landmarks nearly in one hyperplane) and the median Cramér-Rao RMSE bound per
    unit of range noise, over 200 uniform points.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for count in landmark_counts:
        flatness, bound_per_sigma = [], []
        for _ in range(draws):
            landmarks = sample_unit_cube(rng, count, n_dimensions)
            singular_values = np.linalg.svd(landmarks - landmarks.mean(axis=0), compute_uv=False)
            flatness.append(singular_values[n_dimensions - 1] / singular_values[0])
            bound_per_sigma.append(rmse_bound(landmarks, sample_unit_cube(rng, 200, n_dimensions), 1.0))
        rows.append(
            {
                "landmarks": count,
                "smallest_to_largest_singular_value": float(np.median(flatness)),
                "rmse_bound_per_sigma_median": float(np.median(bound_per_sigma)),
                "rmse_bound_per_sigma_90th_percentile": float(np.quantile(bound_per_sigma, 0.9)),
            }
        )
    return rows


def training_pair_agreement(config: LandmarkExperimentConfig, trained: bool = True) -> dict[str, float]:
    """Compares, on the training pairs of `config`, the network's compared distance with the target.

    Args:
        config: The experiment; its data and (when `trained`) its training run are reproduced exactly.
        trained: False scores the freshly initialised network instead, to show what structure a network has
            before it learns anything.

    Returns:
        The Pearson correlation between what the loss sees (the embedding distance, squared for the
        `mismatched` and `squared` forms) and the target, the ratio of their standard deviations, and the
        means.
    """
    config.validate()
    data_seed, training_seed = np.random.SeedSequence(config.seed).spawn(2)
    data = make_landmark_data(config, np.random.default_rng(data_seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if trained:
            network, _, _ = train_landmark_network(
                config, data.landmarks, data.training_points, np.random.default_rng(training_seed)
            )
        else:
            network = build_landmark_network(config, landmark_distances(data.training_points, data.landmarks))
    points = data.training_points[:300]
    embedded = predict_coordinates(network, landmark_distances(points, data.landmarks))
    compared = pdist(embedded, "sqeuclidean") if config.distance_form != "euclidean" else pdist(embedded)
    targets = pdist(points, "sqeuclidean") if config.distance_form == "squared" else pdist(points)
    return {
        "correlation": float(np.corrcoef(compared, targets)[0, 1]),
        "std_ratio": float(compared.std() / targets.std()),
        "compared_mean": float(compared.mean()),
        "target_mean": float(targets.mean()),
        "target_median": float(np.median(targets)),
    }


def embedding_spectrum(config: LandmarkExperimentConfig) -> list[float]:
    """Singular values of the best affine map from true positions to the network's coordinates.

    A perfect network gives all ones (a rotation); one value far below 1 means that direction has
    collapsed while the others stretched to compensate.
    """
    config = dataclasses.replace(config, evaluation_points=max(config.evaluation_points, 500))
    config.validate()
    data_seed, training_seed = np.random.SeedSequence(config.seed).spawn(2)
    data = make_landmark_data(config, np.random.default_rng(data_seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network, _, _ = train_landmark_network(
            config, data.landmarks, data.training_points, np.random.default_rng(training_seed)
        )
    points = data.evaluation_points
    predictions = predict_coordinates(network, landmark_distances(points, data.landmarks))
    design = np.c_[points, np.ones(len(points))]
    coefficients, *_ = np.linalg.lstsq(design, predictions, rcond=None)
    return [float(value) for value in np.linalg.svd(coefficients[:-1], compute_uv=False)]
