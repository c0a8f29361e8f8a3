"""The comparison interface, its registry and the configuration stored in bundles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from siamkit.errors import ConfigError
from siamkit.registry import Registry

COMPARISONS: Registry[Comparison] = Registry("comparison")

# Rows of the first operand handled at once by `pairwise`, so that (rows x M x D) intermediates stay small.
PAIRWISE_CHUNK_ROWS = 256


class Comparison(nn.Module):
    """Scores pairs of embeddings.

    Subclasses implement `forward` (row i of `first` against row i of `second`) and may override
    `pairwise` (every row of `first` against every row of `second`) with a faster form.

    Attributes:
        higher_is_more_similar: True for similarities and learned same-probabilities, False for distances.
        outputs_logits: True when `forward` returns logits that `to_score` maps to probabilities; losses
            such as binary cross-entropy need those.
    """

    higher_is_more_similar: bool = False
    outputs_logits: bool = False

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Scores `(B, D)` against `(B, D)` row by row, giving `(B,)`."""
        raise NotImplementedError

    def pairwise(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Scores every row of `(N, D)` against every row of `(M, D)`, giving `(N, M)`."""
        rows = []
        for start in range(0, first.shape[0], PAIRWISE_CHUNK_ROWS):
            chunk = first[start : start + PAIRWISE_CHUNK_ROWS]
            expanded_first = chunk[:, None, :].expand(-1, second.shape[0], -1)
            expanded_second = second[None, :, :].expand(chunk.shape[0], -1, -1)
            flat = self.forward(expanded_first.reshape(-1, first.shape[1]), expanded_second.reshape(-1, first.shape[1]))
            rows.append(flat.reshape(chunk.shape[0], second.shape[0]))
        return torch.cat(rows) if rows else first.new_zeros(0, second.shape[0])

    def to_score(self, raw: torch.Tensor) -> torch.Tensor:
        """Maps `forward`'s output to the score users see and thresholds (identity for distances)."""
        return raw

    def similarity(self, raw: torch.Tensor) -> torch.Tensor:
        """A value that grows as the pair gets more alike, for ranking and ROC analysis."""
        score = self.to_score(raw)
        return score if self.higher_is_more_similar else -score

    def decide(self, score: torch.Tensor, threshold: float) -> torch.Tensor:
        """True where a score (from `to_score`) means "same" at `threshold`."""
        return score >= threshold if self.higher_is_more_similar else score <= threshold


@dataclass
class ComparisonConfig:
    """Rebuilds a comparison: its registered name and keyword options."""

    name: str = "euclidean"
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparisonConfig:
        if "name" not in data:
            raise ConfigError("comparison config is missing 'name'")
        return cls(name=str(data["name"]), options=dict(data.get("options", {})))


def create_comparison(config: ComparisonConfig, embedding_dim: int) -> Comparison:
    """Builds the comparison `config` names for embeddings of length `embedding_dim`."""
    return COMPARISONS.create(config.name, embedding_dim=embedding_dim, **config.options)
