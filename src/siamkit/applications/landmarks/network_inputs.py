"""Front layers that prepare landmark distances for the encoder: squaring and whitening.

Eleven landmarks in ten dimensions are nearly always close to one hyperplane, so the distance vectors of
all points vary strongly along a few directions and hardly at all along one. A network fed the raw
distances must blow that weak direction up by a large factor, learns it last, and usually gets stuck with
that coordinate collapsed (see docs/landmarks.md). Whitening the inputs with the training set's mean and
covariance gives every direction unit variance before the first weight sees it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from siamkit.errors import ConfigError

# Variances below this fraction of the largest are treated as this, so that whitening inputs which vary
# along fewer directions than they have values does not divide by zero.
_RELATIVE_VARIANCE_FLOOR = 1e-10


class SquaredInputs(nn.Module):
    """Squares every input: `r^2 = |x|^2 - 2 l·x + |l|^2` makes coordinates affine in squared ranges."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs * inputs


class InputWhitening(nn.Module):
    """Fixed affine map `(x - mean) @ transform` that gives the training inputs zero mean and unit covariance.

    Args:
        mean: Mean input, `(m,)`.
        transform: Whitening matrix, `(m, m)`.
    """

    mean: torch.Tensor
    transform: torch.Tensor

    def __init__(self, mean: torch.Tensor, transform: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("transform", transform.float())

    @classmethod
    def fit(cls, inputs: np.ndarray) -> InputWhitening:
        """PCA whitening estimated from `(n, m)` training inputs."""
        if inputs.ndim != 2 or inputs.shape[0] < 2:
            raise ConfigError(f"whitening needs at least two input rows (n, m), got shape {inputs.shape}")
        mean = inputs.mean(axis=0)
        variances, directions = np.linalg.eigh(np.cov(inputs, rowvar=False).reshape(inputs.shape[1], -1))
        variances = np.maximum(variances, _RELATIVE_VARIANCE_FLOOR * max(float(variances.max()), 1e-300))
        transform = directions / np.sqrt(variances)
        return cls(torch.as_tensor(mean), torch.as_tensor(transform))

    @property
    def n_inputs(self) -> int:
        return int(self.mean.shape[0])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return (inputs - self.mean) @ self.transform

    def extended(self, extra: InputWhitening) -> InputWhitening:
        """Whitening of `[old inputs, new inputs]` that keeps this one for the old inputs and uses `extra`
        for the new ones (block diagonal), so adding inputs leaves the old ones' path untouched."""
        size = self.n_inputs + extra.n_inputs
        transform = torch.zeros(size, size)
        transform[: self.n_inputs, : self.n_inputs] = self.transform
        transform[self.n_inputs :, self.n_inputs :] = extra.transform
        return InputWhitening(torch.cat([self.mean, extra.mean]), transform)
