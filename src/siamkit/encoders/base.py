"""The encoder registry and the configuration that rebuilds an encoder from a bundle."""

from __future__ import annotations

import numbers
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
        """Rebuilds a config from `to_dict`'s output, refusing a field of the wrong type by name (a JSON
        `"embedding_dim": "128"` or `2.5` is a mistake to report, not a value to convert)."""
        if not isinstance(data, dict):
            raise ConfigError(f"encoder config must be an object, got {type(data).__name__}")
        missing = [key for key in ("name", "input_shape", "embedding_dim") if key not in data]
        if missing:
            raise ConfigError(f"encoder config is missing {', '.join(missing)}")
        name, shape, options = data["name"], data["input_shape"], data.get("options", {})
        if not isinstance(name, str):
            raise ConfigError(f"encoder config field 'name' must be a string, got {name!r}")
        if not isinstance(shape, list | tuple) or not all(_is_whole_number(size) for size in shape):
            raise ConfigError(f"encoder config field 'input_shape' must be a list of whole numbers, got {shape!r}")
        if not _is_whole_number(data["embedding_dim"]):
            raise ConfigError(
                f"encoder config field 'embedding_dim' must be a whole number, got {data['embedding_dim']!r}"
            )
        if not isinstance(options, dict):
            raise ConfigError(f"encoder config field 'options' must be an object, got {options!r}")
        return cls(
            name=name,
            input_shape=tuple(int(size) for size in shape),
            embedding_dim=int(data["embedding_dim"]),
            options=dict(options),
        )


def _is_whole_number(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


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
