"""The encoder registry and the configuration that rebuilds an encoder from a bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from siamkit.errors import ConfigError
from siamkit.registry import Registry

ENCODERS: Registry[nn.Module] = Registry("encoder")


@dataclass
class EncoderConfig:
    """Everything needed to rebuild an encoder.

    Attributes:
        name: Registered encoder name (`mlp`, `conv4`, `koch`, `signet`, `resnet`, `ensemble`, ...).
        input_shape: Shape of one input without the batch axis: `(channels, height, width)` for images,
            `(length,)` for vectors.
        embedding_dim: Length of the embedding the encoder outputs.
        options: Encoder-specific keyword options (widths, dropout, ...), stored verbatim in bundles.
    """

    name: str
    input_shape: tuple[int, ...]
    embedding_dim: int = 128
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "embedding_dim": self.embedding_dim,
            "options": dict(self.options),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        try:
            return cls(
                name=str(data["name"]),
                input_shape=tuple(int(size) for size in data["input_shape"]),
                embedding_dim=int(data["embedding_dim"]),
                options=dict(data.get("options", {})),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"encoder config is malformed: {error!r}") from None


def create_encoder(config: EncoderConfig) -> nn.Module:
    """Builds the encoder `config` describes and checks that it outputs `embedding_dim` values."""
    if config.embedding_dim < 1:
        raise ConfigError(f"encoder embedding_dim must be positive, got {config.embedding_dim}")
    encoder = ENCODERS.create(
        config.name,
        input_shape=tuple(config.input_shape),
        embedding_dim=config.embedding_dim,
        **config.options,
    )
    return encoder


def encoder_names() -> list[str]:
    """Names accepted by `EncoderConfig.name`."""
    return ENCODERS.names()


def flattened_size(features: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of values `features` outputs for one input, found by a dry run (no gradients)."""
    with torch.no_grad():
        was_training = features.training
        features.eval()
        output = features(torch.zeros(1, *input_shape))
        features.train(was_training)
    return int(output[0].numel())


def require_image_shape(name: str, input_shape: tuple[int, ...], minimum_side: int) -> None:
    """Raises a ConfigError unless `input_shape` is `(channels, height, width)` with both sides large enough."""
    if len(input_shape) != 3:
        raise ConfigError(f"encoder {name!r} needs input_shape (channels, height, width), got {input_shape}")
    if min(input_shape[1:]) < minimum_side:
        raise ConfigError(
            f"encoder {name!r} needs images of at least {minimum_side}x{minimum_side}, got {input_shape[1:]}"
        )
