"""A SigNet-style encoder for offline signatures (Dey et al., 2017)."""

from __future__ import annotations

from torch import nn

from siamkit.encoders.base import ENCODERS, flattened_size, require_image_shape


@ENCODERS.register("signet")
def build_signet(
    input_shape: tuple[int, ...],
    embedding_dim: int = 128,
    width_multiplier: float = 1.0,
    dropout: float = 0.3,
) -> nn.Module:
    """SigNet's layout: conv 96@11x11, 256@5x5, 384@3x3, 256@3x3 with local response normalisation and
    max-pools, then fully connected 1024 and `embedding_dim` units.

    The first convolution uses stride 4 (as AlexNet, on which SigNet is modelled) so the network stays
    trainable on a CPU at the paper's 155x220 input size.

    Args:
        input_shape: `(channels, height, width)`; SigNet uses `(1, 155, 220)`.
        embedding_dim: Output length (128 in the paper).
        width_multiplier: Scales every layer's width, for a smaller network.
        dropout: Dropout after the second and fourth blocks; the dense layer uses 0.5 as in the paper.
    """
    require_image_shape("signet", input_shape, minimum_side=63)

    def channels(base: int) -> int:
        return max(1, round(base * width_multiplier))

    features = nn.Sequential(
        nn.Conv2d(input_shape[0], channels(96), kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(channels(96), channels(256), kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Dropout(dropout),
        nn.Conv2d(channels(256), channels(384), kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels(384), channels(256), kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Dropout(dropout),
    )
    flat = flattened_size(features, input_shape)
    return nn.Sequential(
        features,
        nn.Flatten(),
        nn.Linear(flat, channels(1024)),
        nn.ReLU(inplace=True),
        nn.Dropout(0.5),
        nn.Linear(channels(1024), embedding_dim),
    )
