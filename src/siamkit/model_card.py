"""What a bundle is, in one place: `siamkit info`, a model card read from the bundle itself.

A bundle carries everything needed to rebuild and trust it: the network, the preprocessing, the decision
threshold with how it was chosen (`decision.provenance`, written by `siamkit calibrate`, by training from its
validation classes, or by `benchmarks/store_decision.py`), and training metadata. `describe_bundle` loads it
(checking the fingerprint, so a card is never shown for altered weights) and gathers those facts; the CLI
prints them, and the service answers them at `GET /v1/model` (`describe_model`, from the loaded model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from siamkit.bundle import read_bundle_config
from siamkit.errors import ConfigError
from siamkit.model import SiameseModel


def _encoder_summary(encoder: dict[str, Any]) -> dict[str, Any]:
    """The encoder's name, input and output, with what wraps what (test-time views, ensembles) unfolded."""
    summary: dict[str, Any] = {
        "name": encoder["name"],
        "input_shape": list(encoder["input_shape"]),
        "embedding_dim": encoder["embedding_dim"],
    }
    options = encoder.get("options") or {}
    if encoder["name"] == "test_time_views":
        summary["views"] = options.get("views")
        summary["inner"] = _encoder_summary(options["encoder"])
    elif encoder["name"] == "ensemble":
        members = options.get("members") or []
        summary["members"] = [_encoder_summary(member) for member in members]
    elif options:
        summary["options"] = options
    return summary


def describe_bundle(path: str | Path) -> dict[str, Any]:
    """A JSON-friendly model card of the bundle at `path` (`describe_model`, plus `path` and `size_bytes`).

    Raises:
        BundleError: A missing, malformed or altered bundle, naming the file.
    """
    folder = Path(path)
    model = SiameseModel.load(folder)  # checks the stored fingerprint against the weights, so it can be quoted
    return {
        "path": str(folder),
        "size_bytes": sum(file.stat().st_size for file in folder.iterdir() if file.is_file()),
        **describe_model(model, fingerprint=read_bundle_config(folder)["fingerprint"]),
    }


def describe_model(model: SiameseModel, fingerprint: str | None = None) -> dict[str, Any]:
    """A JSON-friendly model card of a loaded model.

    Args:
        model: The model.
        fingerprint: Its fingerprint when the caller already has it (hashing every weight again is the
            costliest part of a card); computed when None.

    Returns:
        `fingerprint`, `parameters`, `encoder` (see `_encoder_summary`), `comparison` (name, whether larger scores
        mean more alike, L2-normalised embeddings), `preprocessing` (the stored config), `decision` (threshold,
        probability map, provenance; None values when not calibrated), and `training` (steps, seconds, data,
        loss, validation, ensemble members, test-time views, or the pretrained source: what the metadata has).
    """
    network = model.network
    if network.config is None:
        raise ConfigError("only networks built from a SiameseConfig have a model card")
    network_config = network.config.to_dict()
    metadata = model.metadata
    training = metadata.get("training") or {}
    training_config = training.get("config") or {}
    calibration = model.calibration
    return {
        "fingerprint": fingerprint if fingerprint is not None else model.fingerprint,
        "parameters": sum(parameter.numel() for parameter in network.parameters()),
        "encoder": _encoder_summary(network_config["encoder"]),
        "comparison": {
            "name": network_config["comparison"]["name"],
            "higher_is_more_similar": network.comparison.higher_is_more_similar,
            "normalize_embeddings": network_config.get("normalize_embeddings", False),
            "shared_weights": network_config.get("shared_weights", True),
        },
        "preprocessing": model.preprocessing.to_dict(),
        "decision": {
            "threshold": model.threshold,
            "probability_map": calibration.get("method") if isinstance(calibration, dict) else None,
            "provenance": model.threshold_provenance,
        },
        "training": {
            "steps": training.get("steps"),
            "seconds": training.get("seconds"),
            "data": (metadata.get("data") or {}).get("train"),
            "loss": training_config.get("loss"),
            "validation": training.get("validation"),
            "ensemble_members": len((metadata.get("ensemble") or {}).get("members") or []) or None,
            "test_time_views": (metadata.get("test_time_views") or {}).get("views"),
            "pretrained": metadata.get("pretrained"),
        },
    }
