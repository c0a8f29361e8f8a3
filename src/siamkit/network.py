"""The Siamese network: one encoder applied with the same weights to both inputs, then a comparison.

`SiameseConfig` describes it completely, so a bundle's JSON rebuilds it. With `shared_weights=False` the
network is a half-twin: a second encoder (possibly of another architecture and input shape) embeds the
second input, for pairs of two different kinds of input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from siamkit.comparisons import Comparison, ComparisonConfig, create_comparison
from siamkit.encoders import EncoderConfig, create_encoder
from siamkit.errors import ConfigError


@dataclass
class SiameseConfig:
    """Architecture of a Siamese network.

    Attributes:
        encoder: The shared encoder (m1), or the first branch's encoder of a half-twin.
        comparison: How two embeddings are scored (m2).
        normalize_embeddings: L2-normalise embeddings, putting them on the unit sphere.
        shared_weights: False builds a half-twin with a separate second encoder.
        second_encoder: The second branch's encoder of a half-twin; defaults to a copy of `encoder`'s
            architecture with its own weights.
    """

    encoder: EncoderConfig
    comparison: ComparisonConfig = field(default_factory=ComparisonConfig)
    normalize_embeddings: bool = False
    shared_weights: bool = True
    second_encoder: EncoderConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.to_dict(),
            "comparison": self.comparison.to_dict(),
            "normalize_embeddings": self.normalize_embeddings,
            "shared_weights": self.shared_weights,
            "second_encoder": self.second_encoder.to_dict() if self.second_encoder else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SiameseConfig:
        if "encoder" not in data:
            raise ConfigError("network config is missing 'encoder'")
        second = data.get("second_encoder")
        return cls(
            encoder=EncoderConfig.from_dict(data["encoder"]),
            comparison=ComparisonConfig.from_dict(data.get("comparison", {"name": "euclidean"})),
            normalize_embeddings=bool(data.get("normalize_embeddings", False)),
            shared_weights=bool(data.get("shared_weights", True)),
            second_encoder=EncoderConfig.from_dict(second) if second else None,
        )


class SiameseNetwork(nn.Module):
    """Encoder(s) plus comparison.

    Args:
        encoder: Any module mapping `(B, *input_shape)` to `(B, D)`; used for both inputs unless
            `second_encoder` is given.
        comparison: Scores pairs of embeddings.
        normalize_embeddings: L2-normalise embeddings before comparing them.
        second_encoder: A separate encoder for the second input (half-twin).
        config: The config this network was built from, kept so it can be saved; None for custom modules.
    """

    def __init__(
        self,
        encoder: nn.Module,
        comparison: Comparison,
        normalize_embeddings: bool = False,
        second_encoder: nn.Module | None = None,
        config: SiameseConfig | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.second_encoder = second_encoder
        self.comparison = comparison
        self.normalize_embeddings = normalize_embeddings
        self.config = config

    @classmethod
    def from_config(cls, config: SiameseConfig) -> SiameseNetwork:
        """Builds a fresh network with random weights from `config`."""
        encoder = create_encoder(config.encoder)
        second_encoder = None
        if not config.shared_weights:
            second_config = config.second_encoder or config.encoder
            if second_config.embedding_dim != config.encoder.embedding_dim:
                raise ConfigError(
                    "half-twin encoders must output the same embedding_dim, got "
                    f"{config.encoder.embedding_dim} and {second_config.embedding_dim}"
                )
            second_encoder = create_encoder(second_config)
        comparison = create_comparison(config.comparison, config.encoder.embedding_dim)
        return cls(encoder, comparison, config.normalize_embeddings, second_encoder, config)

    @property
    def is_half_twin(self) -> bool:
        return self.second_encoder is not None

    def embed(self, inputs: torch.Tensor, branch: int = 0) -> torch.Tensor:
        """Embeds a batch with the first branch's encoder (or the second's when `branch` is 1)."""
        encoder = self.second_encoder if branch == 1 and self.second_encoder is not None else self.encoder
        embeddings = encoder(inputs)
        if self.normalize_embeddings:
            embeddings = F.normalize(embeddings, dim=-1)
        return embeddings

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Raw comparison output for each pair `(first[i], second[i])`.

        With shared weights both inputs go through the encoder in one batch, so batch-norm statistics
        and the cost are the same as for one batch of `2B` images.
        """
        if self.second_encoder is None and first.shape[1:] == second.shape[1:]:
            embeddings = self.embed(torch.cat([first, second]))
            first_embeddings, second_embeddings = embeddings.split(first.shape[0])
        else:
            first_embeddings, second_embeddings = self.embed(first, 0), self.embed(second, 1)
        return self.comparison(first_embeddings, second_embeddings)
