"""Model bundles: a folder with `model.safetensors` (weights) and `config.json` (everything else).

The JSON rebuilds the network (encoder, comparison), the preprocessing, the decision threshold and score
calibration, and keeps training metadata. A fingerprint over the weights and preprocessing detects altered
files and tells galleries whether two models embed alike. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from siamkit.atomic import atomic_directory, write_text_atomic
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import BundleError, ConfigError
from siamkit.network import SiameseConfig, SiameseNetwork

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "siamkit-bundle"
BUNDLE_FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def compute_fingerprint(state: dict[str, torch.Tensor], preprocessing: PreprocessingConfig) -> str:
    """SHA-256 over every tensor (name, dtype, shape, bytes, in name order) and the preprocessing JSON."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        if tensor.dtype == torch.float16:
            # Half-precision bundles hash as the float32 weights they load into, so a loaded model's
            # fingerprint equals the stored one.
            tensor = tensor.float()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    digest.update(json.dumps(preprocessing.to_dict(), sort_keys=True).encode())
    return digest.hexdigest()


def network_state(network: SiameseNetwork) -> dict[str, torch.Tensor]:
    """The network's tensors as safetensors stores them: contiguous, on the CPU, no shared storage."""
    return {name: tensor.detach().cpu().contiguous().clone() for name, tensor in network.state_dict().items()}


def save_bundle(
    path: str | Path,
    network: SiameseNetwork,
    preprocessing: PreprocessingConfig,
    threshold: float | None = None,
    calibration: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    half_precision: bool = False,
    provenance: dict[str, Any] | None = None,
) -> str:
    """Writes a bundle folder atomically and returns its fingerprint.

    Args:
        provenance: Where the threshold came from (see `threshold_provenance`); stored beside it.
        half_precision: Store float32 tensors as float16, halving the file (for shipping large pretrained
            encoders under a size limit). The network's own weights are rounded to float16 values first, so
            the model in memory and the one loaded back embed identically.

    Raises:
        ConfigError: The network was built from a custom module and has no config to rebuild it from.
    """
    if network.config is None:
        raise ConfigError(
            "only networks built from a SiameseConfig can be saved as bundles; register custom encoders "
            "with siamkit.encoders.ENCODERS.register"
        )
    refuse_to_replace_a_non_bundle(Path(path))
    if half_precision:
        with torch.no_grad():
            for tensor in network.state_dict().values():
                if tensor.dtype == torch.float32:
                    tensor.copy_(tensor.half().float())
    state = network_state(network)
    fingerprint = compute_fingerprint(state, preprocessing)
    if half_precision:
        state = {name: tensor.half() if tensor.dtype == torch.float32 else tensor for name, tensor in state.items()}
    config = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "network": network.config.to_dict(),
        "preprocessing": preprocessing.to_dict(),
        "decision": _decision(threshold, calibration, provenance),
        "metadata": metadata or {},
        "fingerprint": fingerprint,
    }
    with atomic_directory(path) as staging:
        save_file(state, str(staging / WEIGHTS_FILE), metadata={"fingerprint": fingerprint})
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    logger.info("saved bundle %s (fingerprint %s)", path, fingerprint[:12])
    return fingerprint


def threshold_provenance(source: str, **details: Any) -> dict[str, Any]:
    """A record of how a bundle's threshold was chosen, stored beside it so the decision can be defended later.

    Args:
        source: What chose it, in words (`siamkit calibrate`, the training run's validation, ...).
        details: JSON-friendly facts about it: the method (`eer`, `target_far`, `fixed`), the target, the error
            rates reached, the data and protocol, the pair counts.
    """
    from siamkit import __version__

    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"source": source, **details, "created": created, "siamkit_version": __version__}


def _decision(
    threshold: float | None, calibration: dict[str, Any] | None, provenance: dict[str, Any] | None
) -> dict[str, Any]:
    decision: dict[str, Any] = {"threshold": threshold, "calibration": calibration}
    if provenance is not None and threshold is not None:
        decision["provenance"] = provenance
    return decision


def refuse_to_replace_a_non_bundle(path: Path) -> None:
    """Raises a BundleError unless `path` is free, an empty folder or a bundle: saving replaces the folder whole,
    so a mistyped output path must never take a user's own files with it."""
    if not path.exists():
        return
    if not path.is_dir():
        raise BundleError(f"{path}: is a file; a bundle is a folder, so choose another output path")
    if not any(path.iterdir()):
        return
    try:
        is_bundle = json.loads((path / CONFIG_FILE).read_text()).get("format") == BUNDLE_FORMAT
    except (OSError, ValueError, AttributeError):
        is_bundle = False
    if not is_bundle:
        raise BundleError(
            f"{path}: a folder that is not a model bundle; saving would replace its contents, so choose a new or "
            "empty folder"
        )


def read_bundle_config(path: str | Path) -> dict[str, Any]:
    """Reads and checks a bundle's `config.json`."""
    folder = Path(path)
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a model bundle folder (it does not exist or is a file)")
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise BundleError(f"{config_path}: missing; a bundle needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BundleError(f"{config_path}: not valid JSON ({error})") from None
    if not isinstance(config, dict) or config.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{config_path}: not a siamkit bundle config (format is not {BUNDLE_FORMAT!r})")
    if config.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"{config_path}: bundle format version {config.get('format_version')} is not supported "
            f"(this siamkit reads version {BUNDLE_FORMAT_VERSION})"
        )
    for key in ("network", "preprocessing", "fingerprint"):
        if key not in config:
            raise BundleError(f"{config_path}: missing field {key!r}")
    return config


def load_bundle(path: str | Path) -> tuple[SiameseNetwork, PreprocessingConfig, dict[str, Any]]:
    """Rebuilds the network and preprocessing of a bundle and checks its fingerprint.

    Returns:
        The network (in eval mode), its preprocessing, and the whole parsed config.
    """
    folder = Path(path)
    config = read_bundle_config(folder)
    weights_path = folder / WEIGHTS_FILE
    if not weights_path.is_file():
        raise BundleError(f"{weights_path}: missing; a bundle needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        network = SiameseNetwork.from_config(SiameseConfig.from_dict(config["network"]))
        preprocessing = PreprocessingConfig.from_dict(config["preprocessing"])
    except ConfigError as error:
        raise BundleError(f"{folder / CONFIG_FILE}: {error}") from None
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise BundleError(f"{weights_path}: unreadable weights ({error})") from None
    expected = set(network.state_dict())
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise BundleError(f"{weights_path}: weights do not match the config (missing {missing[:3]}, extra {extra[:3]})")
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise BundleError(f"{weights_path}: weights do not match the config ({str(error).splitlines()[0]})") from None
    fingerprint = compute_fingerprint(state, preprocessing)
    if fingerprint != config["fingerprint"]:
        raise BundleError(
            f"{folder}: fingerprint mismatch, the weights or preprocessing were altered after saving "
            f"(expected {str(config['fingerprint'])[:12]}, found {fingerprint[:12]})"
        )
    network.eval()
    return network, preprocessing, config


def update_bundle_decision(
    path: str | Path,
    threshold: float,
    calibration: dict[str, Any] | None,
    provenance: dict[str, Any] | None = None,
) -> None:
    """Rewrites only the decision rule (threshold, score calibration and where they came from), atomically.

    The weights and preprocessing, and so the fingerprint, stay as they are: galleries built with the
    model remain valid after a recalibration.
    """
    config = read_bundle_config(path)
    config["decision"] = _decision(threshold, calibration, provenance)
    write_text_atomic(Path(path) / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True) + "\n")
