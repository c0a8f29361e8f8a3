"""Whether a network can train in the channels-last layout without tripping a oneDNN bug.

oneDNN (PyTorch's CPU convolution library) computes the weight gradient of a 1x1 convolution with a stride
above 1 wrongly in the channels-last (NHWC) layout when the convolution has fewer input channels than its
kernel's channel block (16 with AVX-512): it writes past a workspace (uxlfoundation/oneDNN issue 6035). On
this project's machines (torch 2.13.0+cpu) that corrupts the heap and the process dies within its first steps;
on others it hangs or returns wrong gradients. A ResNet's projection shortcut is exactly such a convolution,
so `resnet` widths that start below 16 meet it. The training loop checks the network first and trains such
networks in the default layout (slower, right).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch
from torch import nn

from siamkit.training.config import TrainConfig

logger = logging.getLogger(__name__)
# oneDNN's largest input-channel block for 1x1 convolutions on x86 (AVX-512); fewer channels take the bad path.
SAFE_INPUT_CHANNELS = 16


def unsafe_channels_last_convolutions(network: nn.Module) -> list[str]:
    """Names of the convolutions whose channels-last weight gradient oneDNN gets wrong (see the module doc)."""
    return [
        name
        for name, module in network.named_modules()
        if isinstance(module, nn.Conv2d)
        and module.kernel_size == (1, 1)
        and module.stride != (1, 1)
        and module.in_channels // module.groups < SAFE_INPUT_CHANNELS
    ]


def without_unsafe_channels_last(config: TrainConfig, network: nn.Module, device: torch.device) -> TrainConfig:
    """`config` with `channels_last` switched off (and a warning) when the network would meet the bug on a CPU."""
    unsafe = unsafe_channels_last_convolutions(network) if device.type == "cpu" else []
    if not (config.channels_last and unsafe):
        return config
    logger.warning(
        "training in the default memory layout, not channels-last: oneDNN computes wrong weight gradients for "
        "strided 1x1 convolutions with fewer than %d input channels in that layout (%s)",
        SAFE_INPUT_CHANNELS,
        ", ".join(unsafe),
    )
    return replace(config, channels_last=False)
