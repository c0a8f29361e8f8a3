"""A learned nonlinear comparison ending in a same-probability (Koch et al.'s weighted L1 + sigmoid, widened)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from siamkit.comparisons.base import COMPARISONS, Comparison
from siamkit.errors import ConfigError

_FEATURES = ("absolute_difference", "product")


class LearnedHead(Comparison):
    """An MLP over `|a - b|` and `a * b` that outputs the logit of "same".

    Both features are symmetric in `a` and `b`, so the score is too. With `hidden_dims=()` and only
    `absolute_difference` it is exactly Koch et al.'s weighted L1 distance followed by a sigmoid.

    Args:
        embedding_dim: Length of the embeddings.
        hidden_dims: Widths of the hidden layers.
        features: Which of `absolute_difference` and `product` to feed the MLP.
    """

    higher_is_more_similar = True
    outputs_logits = True

    def __init__(
        self,
        embedding_dim: int,
        hidden_dims: Sequence[int] = (64,),
        features: Sequence[str] = _FEATURES,
    ) -> None:
        super().__init__()
        unknown = set(features) - set(_FEATURES)
        if unknown or not features:
            raise ConfigError(f"learned_head features must be a non-empty subset of {_FEATURES}, got {features}")
        self.features = tuple(features)
        layers: list[nn.Module] = []
        width = embedding_dim * len(self.features)
        for hidden in hidden_dims:
            layers += [nn.Linear(width, int(hidden)), nn.ReLU(inplace=True)]
            width = int(hidden)
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        parts = []
        if "absolute_difference" in self.features:
            parts.append((first - second).abs())
        if "product" in self.features:
            parts.append(first * second)
        return self.mlp(torch.cat(parts, dim=-1)).squeeze(-1)

    def to_score(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw)


@COMPARISONS.register("learned_head")
def build_learned_head(
    embedding_dim: int, hidden_dims: Sequence[int] = (64,), features: Sequence[str] = _FEATURES
) -> Comparison:
    """A learned same-probability head."""
    return LearnedHead(embedding_dim, hidden_dims, features)
