"""The conv4 training and inference steps that `core_speed.py` times, in each CPU optimisation variant.

A training step is what the trainer does per batch: embed the batch once, the in-batch contrastive loss over
all `B (B - 1) / 2` pairs (siamkit.mining.in_batch_loss), backward, one AdamW step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from siamkit.comparisons import EuclideanDistance
from siamkit.encoders import EncoderConfig, create_encoder
from siamkit.losses import ContrastiveLoss
from siamkit.mining import in_batch_loss


@dataclass(frozen=True)
class Variant:
    """One way of running the same training step.

    Attributes:
        name: Short key used on the command line and in tables.
        description: What the variant changes, for the report.
        channels_last: Model weights and images in NHWC memory format (oneDNN's native layout on CPU).
        bfloat16: Encoder forward under `torch.autocast("cpu", torch.bfloat16)`.
        compiled: Encoder wrapped in `torch.compile` (Inductor, C++ codegen with the local gcc).
        retained_heap: Run in a child process that keeps freed memory in its heap (`keep_freed_memory_in_heap`),
            so activations are not page-faulted in again every step.
        slow: Only run at small image sizes by default, because it is much slower here or compiles for minutes.
    """

    name: str
    description: str
    channels_last: bool = False
    bfloat16: bool = False
    compiled: bool = False
    retained_heap: bool = False
    slow: bool = False


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("baseline", "fp32, default NCHW layout, eager"),
        Variant("channels_last", "fp32, channels_last (NHWC) weights and images", channels_last=True),
        Variant(
            "channels_last+retained_heap",
            "channels_last, glibc told to keep freed memory (MALLOC_MMAP_MAX_=0)",
            channels_last=True,
            retained_heap=True,
        ),
        Variant(
            "channels_last+bf16",
            "channels_last, encoder forward under bfloat16 autocast",
            channels_last=True,
            bfloat16=True,
            slow=True,
        ),
        Variant(
            "channels_last+compile",
            "channels_last, encoder under torch.compile (Inductor)",
            channels_last=True,
            compiled=True,
            slow=True,
        ),
    )
}


@dataclass(frozen=True)
class Workload:
    """A square grey-scale image size and batch size, with `images_per_class` images of each class per batch."""

    side: int
    batch_size: int
    embedding_dim: int = 64
    images_per_class: int = 4

    @property
    def label(self) -> str:
        return f"{self.side}x{self.side}, batch {self.batch_size}"

    @property
    def pairs_per_batch(self) -> int:
        return self.batch_size * (self.batch_size - 1) // 2


def build_encoder(workload: Workload, channels_last: bool, seed: int = 0) -> nn.Module:
    """A freshly initialised conv4 encoder for `workload`'s image size (same weights for the same seed)."""
    torch.manual_seed(seed)
    config = EncoderConfig("conv4", (1, workload.side, workload.side), embedding_dim=workload.embedding_dim)
    encoder = create_encoder(config)
    return encoder.to(memory_format=torch.channels_last) if channels_last else encoder


def make_batch(workload: Workload, channels_last: bool, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random normalised images `(B, 1, side, side)` and class labels with `images_per_class` images per class
    (the P x K sampling in-batch mining needs, so every batch has positive pairs)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(workload.batch_size, 1, workload.side, workload.side, generator=generator)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.arange(workload.batch_size) // workload.images_per_class
    return images, labels


class TrainingStep:
    """One in-batch training step of conv4 per call, set up for `variant`.

    Args:
        workload: Image size and batch size.
        variant: How the step is run (memory format, precision, compilation).
    """

    def __init__(self, workload: Workload, variant: Variant) -> None:
        self.workload = workload
        self.variant = variant
        self.encoder = build_encoder(workload, variant.channels_last)
        self.model: nn.Module = torch.compile(self.encoder) if variant.compiled else self.encoder  # type: ignore[assignment]
        self.images, self.labels = make_batch(workload, variant.channels_last)
        self.optimizer = torch.optim.AdamW(self.encoder.parameters(), lr=1e-3)
        self.comparison = EuclideanDistance()
        self.loss_function = ContrastiveLoss(margin=1.0)
        self.last_loss = torch.tensor(float("nan"))

    def embed(self) -> torch.Tensor:
        """Embeddings of the batch in float32 (autocast only covers the encoder; the loss stays float32)."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.variant.bfloat16):
            embeddings = self.model(self.images)
        return embeddings.float()

    def __call__(self) -> None:
        embeddings = self.embed()
        loss = in_batch_loss(embeddings, self.labels, self.comparison, self.loss_function, strategy="all")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.last_loss = loss.detach()


class InferenceStep:
    """Embeds one batch with the encoder in eval mode under `torch.inference_mode` per call."""

    def __init__(self, workload: Workload, variant: Variant) -> None:
        self.variant = variant
        self.encoder = build_encoder(workload, variant.channels_last).eval()
        self.images, _ = make_batch(workload, variant.channels_last)

    def __call__(self) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.variant.bfloat16):
            return self.encoder(self.images).float()


def counted_flops(function: TrainingStep | InferenceStep) -> int:
    """FLOPs of one call as `FlopCounterMode` counts them: convolutions and matrix products, forward and,
    for training, backward (only the gradients autograd actually computes)."""
    with FlopCounterMode(display=False) as counter:
        function()
    return int(counter.get_total_flops())


def analytic_forward_flops(encoder: nn.Module, images: torch.Tensor) -> int:
    """Forward FLOPs (2 x multiply-accumulates) of the Conv2d and Linear layers, from their output shapes.

    An independent check on `counted_flops`: a training step should be close to three times this (forward,
    input gradients, weight gradients), a little less because the first convolution needs no input gradient.
    """
    total = 0

    def count_convolution(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        kernel_height, kernel_width = module.kernel_size
        total += 2 * output.numel() * (module.in_channels // module.groups) * kernel_height * kernel_width

    def count_linear(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)
        total += 2 * output.numel() * module.in_features

    handles = []
    for module in encoder.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(count_convolution))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(count_linear))
    try:
        with torch.no_grad():
            encoder(images)
    finally:
        for handle in handles:
            handle.remove()
    return total


def bfloat16_embedding_error(workload: Workload) -> float:
    """Relative error `|e_bf16 - e_fp32| / |e_fp32|` of the encoder's embeddings under bfloat16 autocast."""
    encoder = build_encoder(workload, channels_last=True)
    images, _ = make_batch(workload, channels_last=True)
    with torch.no_grad():
        reference = encoder(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            reduced = encoder(images).float()
    return float((reduced - reference).norm() / reference.norm())


def top_operations(step: TrainingStep, rows: int = 12, steps: int = 2) -> list[dict[str, float | str | int]]:
    """The operators with the most self CPU time over `steps` calls of `step`, per step, largest first."""
    step()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    averages = sorted(profiler.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)
    total = sum(event.self_cpu_time_total for event in averages) or 1.0
    return [
        {
            "operator": event.key,
            "self_seconds_per_step": event.self_cpu_time_total / 1e6 / steps,
            "share": event.self_cpu_time_total / total,
            "calls_per_step": event.count // steps,
        }
        for event in averages[:rows]
    ]
