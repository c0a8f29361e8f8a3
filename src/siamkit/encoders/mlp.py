"""A multilayer perceptron for vector inputs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from siamkit.encoders.base import ENCODERS
from siamkit.errors import ConfigError

_OUTPUT_ACTIVATIONS = {"none": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


@ENCODERS.register("mlp")
def build_mlp(
    input_shape: tuple[int, ...],
    embedding_dim: int,
    hidden_dims: Sequence[int] = (256, 256),
    dropout: float = 0.0,
    output_activation: str = "none",
) -> nn.Module:
    """Linear-ReLU layers ending in a linear layer to `embedding_dim`.

    Args:
        input_shape: `(length,)` of one vector; other shapes are flattened.
        embedding_dim: Output length.
        hidden_dims: Widths of the hidden layers.
        dropout: Dropout after each hidden layer.
        output_activation: `none`, `sigmoid`, `tanh` or `relu` after the last layer.
    """
    if output_activation not in _OUTPUT_ACTIVATIONS:
        raise ConfigError(
            f"mlp output_activation must be one of {sorted(_OUTPUT_ACTIVATIONS)}, got {output_activation!r}"
        )
    input_length = 1
    for size in input_shape:
        input_length *= size
    layers: list[nn.Module] = [nn.Flatten()]
    width = input_length
    for hidden in hidden_dims:
        layers += [nn.Linear(width, int(hidden)), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = int(hidden)
    layers += [nn.Linear(width, embedding_dim), _OUTPUT_ACTIVATIONS[output_activation]()]
    return nn.Sequential(*layers)
