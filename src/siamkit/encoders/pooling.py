"""Pooling a feature map into one vector: the average, or the generalised mean that leans on strong responses."""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("average", "generalized_mean")


class GeneralizedMeanPooling(nn.Module):
    """Generalised-mean (GeM) pooling over the spatial positions, with a learnt exponent.

    `(mean(x ** p)) ** (1 / p)` per channel: p = 1 is the average, large p tends to the maximum. Image-retrieval
    networks use it (Radenović et al. 2018) because a feature that fires strongly in a few places, a distinctive
    stroke, say, is not diluted by the many places where it does not. Computed in float32, since powers of
    half-precision activations overflow or lose the small ones.

    Args:
        initial_exponent: p at the start of training (3 is the usual choice).
        epsilon: Floor on the activations, so that their powers and roots stay finite.
    """

    def __init__(self, initial_exponent: float = 3.0, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.exponent = nn.Parameter(torch.tensor(float(initial_exponent)))
        self.epsilon = epsilon

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        exponent = self.exponent.float()
        powered = feature_map.float().clamp(min=self.epsilon).pow(exponent)
        return powered.mean(dim=(2, 3)).pow(1.0 / exponent)
