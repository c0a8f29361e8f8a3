"""Start training from a saved model's weights instead of random ones (fine-tuning, transfer learning).

Small verification data sets (35 signature writers, 32 face people) are where a Siamese network overfits
first; an encoder that already learnt generic features elsewhere (strokes from Omniglot characters, say)
only has to adapt them. The source is a model bundle, so its weights come from safetensors with the
fingerprint checked, never from a pickle.

    network = SiameseNetwork.from_config(recipe.network)
    load_initial_weights(network, "models/omniglot-strokes")
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from siamkit.bundle import load_bundle, read_bundle_config
from siamkit.errors import BundleError, ConfigError
from siamkit.network import SiameseNetwork

logger = logging.getLogger(__name__)

FIELD = "training.initial_weights"


def check_initial_weights(bundle: str | Path) -> None:
    """Fails fast, in one line naming `training.initial_weights`, when `bundle` is not a readable bundle."""
    try:
        read_bundle_config(bundle)
    except BundleError as error:
        raise ConfigError(f"{FIELD}: {error}") from None


def load_initial_weights(network: SiameseNetwork, bundle: str | Path) -> list[str]:
    """Copies a bundle's weights into `network` where names and shapes agree.

    Every encoder tensor must agree (the point is to reuse the encoder); other tensors, such as a learned
    comparison head of another size, keep their fresh initialisation, and their names are returned and logged.

    Args:
        network: A freshly built network, changed in place.
        bundle: A model bundle folder (`siamkit train` writes one under `OUTPUT/model`).

    Returns:
        Names of the network's tensors that were left as initialised.

    Raises:
        ConfigError: one line naming `training.initial_weights` and the bundle: it cannot be read, or its
            encoder differs from the network's (a missing tensor or another shape).
    """
    try:
        source_network, _, _ = load_bundle(bundle)
    except BundleError as error:
        raise ConfigError(f"{FIELD}: {error}") from None
    source = dict(source_network.state_dict())
    target = network.state_dict()
    for name in target:
        # A half-twin started from a shared-weight model: both encoders begin as the one it had.
        shared_name = "encoder." + name.removeprefix("second_encoder.")
        if name.startswith("second_encoder.") and name not in source and shared_name in source:
            source[name] = source[shared_name]
    for name, tensor in target.items():
        if not name.startswith(("encoder.", "second_encoder.")):
            continue
        if name not in source:
            raise ConfigError(f"{FIELD}: {bundle}: its network has no {name!r}; the encoders differ")
        if tuple(source[name].shape) != tuple(tensor.shape):
            raise ConfigError(
                f"{FIELD}: {bundle}: {name!r} has shape {tuple(source[name].shape)}, the recipe's network "
                f"{tuple(tensor.shape)}; the encoders differ (name, options, input_shape or embedding_dim)"
            )
    copied = {
        name: source[name].to(tensor.dtype)
        for name, tensor in target.items()
        if name in source and tuple(source[name].shape) == tuple(tensor.shape)
    }
    left_fresh = [name for name in target if name not in copied]
    with torch.no_grad():
        network.load_state_dict(copied, strict=False)
    logger.info("started from %s: %d tensors copied, %d left as initialised", bundle, len(copied), len(left_fresh))
    if left_fresh:
        logger.info("left as initialised: %s", ", ".join(left_fresh))
    return left_fresh
