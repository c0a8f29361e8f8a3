"""Pooling a feature map into one vector: the average, the generalised mean that leans on strong responses, the
map itself flattened (where each response is, kept), or second-order statistics (which responses occur together)."""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("average", "generalized_mean", "flatten", "bilinear")


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


class BilinearPooling(nn.Module):
    """Second-order (bilinear) pooling: the average over positions of each location's channel outer product.

    Fine-grained recognition uses it (Lin et al. 2015) because two look-alike classes often have the same parts
    and differ in which parts occur together; the average of `x x^T` keeps those co-occurrences where the
    average of `x` loses them. The result is signed-square-rooted and L2-normalised per image, as in that work,
    so a few large products do not swamp the rest. Output length: channels squared.

    Args:
        epsilon: Added under the square root, so its gradient stays finite at zero.
    """

    def __init__(self, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.epsilon = epsilon

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        features = feature_map.float().flatten(2)  # (batch, channels, positions)
        products = torch.bmm(features, features.transpose(1, 2)) / features.shape[2]
        products = products.flatten(1)
        rooted = torch.sign(products) * torch.sqrt(products.abs() + self.epsilon)
        return torch.nn.functional.normalize(rooted, dim=1)
