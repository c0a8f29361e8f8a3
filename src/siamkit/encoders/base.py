"""The encoder registry and the configuration that rebuilds an encoder from a bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from siamkit.config_types import check_field_types
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

    def __post_init__(self) -> None:
        check_field_types(self, "encoder")
        self.input_shape = tuple(int(size) for size in self.input_shape)
        self.embedding_dim = int(self.embedding_dim)
        self.options = dict(self.options)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        """Rebuilds a config from `to_dict`'s output; a field of the wrong type (a JSON `"embedding_dim":
        "128"` or `2.5`) is named by the field check, not converted."""
        if not isinstance(data, dict):
            raise ConfigError(f"encoder config must be an object, got {type(data).__name__}")
        missing = [key for key in ("name", "input_shape", "embedding_dim") if key not in data]
        if missing:
            raise ConfigError(f"encoder config is missing {', '.join(missing)}")
        return cls(
            name=data["name"],
            input_shape=data["input_shape"],
            embedding_dim=data["embedding_dim"],
            options=data.get("options", {}),
        )


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
