"""Combining trained bundles into one ensemble bundle.

Models trained alike from different seeds make different mistakes, and averaging their comparisons cancels
part of them (on the signature split, three seeds at 10.7%, 16.1% and 13.0% EER give 11.6% together). The
ensemble is an ordinary bundle whose encoder is `siamkit.encoders.ensemble`, so `verify`, `evaluate`,
`calibrate`, galleries and the service use it unchanged.

    siamkit ensemble --model runs/seed0/model --model runs/seed1/model --output models/ensemble
    siamkit calibrate --model models/ensemble --data calibration/ --eer
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siamkit.bundle import load_bundle, save_bundle
from siamkit.comparisons import ComparisonConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError
from siamkit.network import SiameseConfig, SiameseNetwork

logger = logging.getLogger(__name__)

# Comparisons that need no weights of their own and that read the members' unit embeddings alike;
# cosine ignores lengths, so its members need not have been trained with normalised embeddings.
_LENGTH_FREE_COMPARISONS = {"cosine"}
_UNIT_EMBEDDING_COMPARISONS = {"cosine", "euclidean", "squared_euclidean", "manhattan"}


def combine_bundles(member_paths: Sequence[str | Path], output: str | Path, half_precision: bool = False) -> str:
    """Writes a bundle that runs every member's encoder and averages their comparisons; returns its fingerprint.

    The members must share their preprocessing and one weight-free comparison, and (except for cosine) have
    been trained with L2-normalised embeddings, so that each contributes equally. The ensemble's scores are on
    a new scale, so it is written without a decision threshold: calibrate it before verifying with it.

    Args:
        member_paths: Two or more bundle folders.
        output: The ensemble bundle folder, written atomically (it may be one of the members).
        half_precision: Store the weights as float16, as `save_bundle` does, to keep a large ensemble small.

    Raises:
        ConfigError: Fewer than two members, or members that cannot be averaged (named in the message).
        BundleError: A member is missing or damaged.
    """
    if len(member_paths) < 2:
        raise ConfigError(f"an ensemble needs at least two --model bundles, got {len(member_paths)}")
    members = [(Path(path), *load_bundle(path)) for path in member_paths]
    configs = [network.config for _, network, _, _ in members if network.config is not None]  # bundles have one
    first_path, _, preprocessing, _ = members[0]
    comparison = configs[0].comparison
    for (path, network, member_preprocessing, _), config in zip(members, configs, strict=True):
        if network.is_half_twin:
            raise ConfigError(f"{path}: a half-twin network cannot join an ensemble (one encoder reads both inputs)")
        if config.encoder.name == "ensemble":
            raise ConfigError(f"{path}: already an ensemble; combine its member bundles instead")
        if member_preprocessing.to_dict() != preprocessing.to_dict():
            raise ConfigError(f"{path}: its preprocessing differs from {first_path}'s; members must read inputs alike")
        if config.comparison != comparison:
            raise ConfigError(
                f"{path}: compares by {config.comparison.name!r}, {first_path} by {comparison.name!r}; "
                "members must agree"
            )
        has_weights = any(True for _ in network.comparison.parameters())
        if config.comparison.name not in _UNIT_EMBEDDING_COMPARISONS or has_weights:
            raise ConfigError(
                f"{path}: its comparison {config.comparison.name!r} has weights of its own or is not a distance "
                f"of unit embeddings; members must compare by one of {sorted(_UNIT_EMBEDDING_COMPARISONS)}"
            )
        if not config.normalize_embeddings and config.comparison.name not in _LENGTH_FREE_COMPARISONS:
            raise ConfigError(
                f"{path}: trained without normalised embeddings, so its {config.comparison.name} distances "
                "are on a scale of their own; only cosine members may be unnormalised"
            )
    encoder_configs = [config.encoder for config in configs]
    ensemble_config = SiameseConfig(
        encoder=EncoderConfig(
            name="ensemble",
            input_shape=tuple(encoder_configs[0].input_shape),
            embedding_dim=sum(config.embedding_dim for config in encoder_configs),
            options={"members": [config.to_dict() for config in encoder_configs]},
        ),
        comparison=ComparisonConfig.from_dict(comparison.to_dict()),
        normalize_embeddings=True,
    )
    ensemble = SiameseNetwork.from_config(ensemble_config)
    for slot, (_, network, _, _) in zip(ensemble.encoder.members, members, strict=True):  # type: ignore[arg-type]
        slot.load_state_dict(network.encoder.state_dict())
    metadata = {
        "ensemble": {
            "members": [
                {"path": str(path), "fingerprint": config["fingerprint"], "metadata": config.get("metadata", {})}
                for path, _, _, config in members
            ]
        }
    }
    fingerprint = save_bundle(output, ensemble, preprocessing, metadata=metadata, half_precision=half_precision)
    logger.info("combined %d bundles into %s", len(members), output)
    return fingerprint


def combined_similarities(member_similarities: Sequence[np.ndarray], comparison: str) -> np.ndarray:
    """What an ensemble bundle of these members scores a set of pairs, from each member's scores of them.

    Scores are similarities as `SiameseModel.similarity_from_score` gives them (larger means more alike; a
    distance negated). This lets an ensemble's threshold be fitted on held-out pairs its members were scored
    on, without scoring them again.

    Args:
        member_similarities: One array per member, the same pairs in the same order.
        comparison: The members' comparison name.
    """
    stacked = np.stack([np.asarray(scores, dtype=np.float64) for scores in member_similarities])
    if comparison in ("cosine", "squared_euclidean"):
        return stacked.mean(axis=0)
    if comparison == "euclidean":
        return -np.sqrt(np.square(stacked).mean(axis=0))
    if comparison == "manhattan":
        return stacked.mean(axis=0) * np.sqrt(len(stacked))
    raise ConfigError(f"comparison {comparison!r} cannot be averaged; use one of {sorted(_UNIT_EMBEDDING_COMPARISONS)}")
