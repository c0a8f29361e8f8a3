"""Several trained encoders read as one, so an ensemble of models ships and runs as a single bundle.

Each member's embedding is L2-normalised and scaled by `1/sqrt(k)` before the `k` of them are concatenated.
The result is a unit vector whose dot product with another equals the mean of the members' cosines. A cosine or
squared Euclidean comparison of two ensemble embeddings is therefore the mean of the members' (on their unit
embeddings), a Euclidean one the root of their mean square, a Manhattan one their mean times `sqrt(k)`; and a
gallery or faiss index of ensemble embeddings searches by that average with no special case anywhere.
`siamkit.ensemble.combine_bundles` builds one from trained bundles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from siamkit.encoders.base import ENCODERS, EncoderConfig, create_encoder
from siamkit.errors import ConfigError


class EnsembleEncoder(nn.Module):
    """Runs every member on the same input and concatenates their normalised, equally weighted embeddings."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        scale = len(self.members) ** -0.5
        return torch.cat([F.normalize(member(inputs), dim=-1) * scale for member in self.members], dim=-1)


@ENCODERS.register("ensemble")
def build_ensemble(
    input_shape: tuple[int, ...],
    embedding_dim: int,
    members: Sequence[Mapping[str, Any]] = (),
) -> nn.Module:
    """An ensemble of encoders that all read `input_shape`.

    Args:
        input_shape: The one input shape every member takes (they share the bundle's preprocessing).
        embedding_dim: The sum of the members' embedding lengths.
        members: Each member's encoder config as a bundle stores it (`EncoderConfig.to_dict()`); at least two.
    """
    configs = [EncoderConfig.from_dict(dict(member)) for member in members]
    if len(configs) < 2:
        raise ConfigError(f"encoder 'ensemble' needs at least two members, got {len(configs)}")
    for index, config in enumerate(configs):
        if config.name == "ensemble":
            raise ConfigError(f"encoder 'ensemble': member {index} is itself an ensemble; list its members instead")
        if tuple(config.input_shape) != tuple(input_shape):
            shapes = f"{tuple(config.input_shape)}, the ensemble {tuple(input_shape)}"
            raise ConfigError(f"encoder 'ensemble': member {index} reads {shapes}")
    total = sum(config.embedding_dim for config in configs)
    if total != embedding_dim:
        raise ConfigError(f"encoder 'ensemble': embedding_dim must be the members' sum {total}, got {embedding_dim}")
    return EnsembleEncoder([create_encoder(config) for config in configs])
