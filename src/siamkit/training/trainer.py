"""The training loop: one visible loop over optimiser steps, with small helpers around it.

    network = SiameseNetwork.from_config(config)
    result = train(network, train_data, TrainConfig(output_dir=Path("runs/x")), validation_data=held_out)
    result.model.verify("a.png", "b.png")

The same function runs unchanged under `torchrun --nproc_per_node N`: each process draws its slice of the
global batch, embeddings are gathered so that in-batch pairs span all processes, DistributedDataParallel
averages gradients, and only rank 0 writes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from siamkit.bundle import threshold_provenance
from siamkit.comparisons.cosine import CosineDistance
from siamkit.data.augmentation import augment_images
from siamkit.data.image_folder import ImageDataset
from siamkit.data.pairs_csv import PairDataset, TripletDataset
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.data.signature_folder import SignatureDataset
from siamkit.data.vectors import VectorDataset
from siamkit.errors import ConfigError
from siamkit.losses import SiameseLoss, create_loss, takes_class_count
from siamkit.mining import check_objective
from siamkit.model import SiameseModel
from siamkit.network import SiameseNetwork
from siamkit.training.batches import Batch, BatchSource, ClassBatches, PairBatches, TripletBatches, example_groups
from siamkit.training.checkpoint import LoopState, load_checkpoint, save_checkpoint
from siamkit.training.clock import TrainingClock
from siamkit.training.config import EARLY_STOPPING_METRICS, TrainConfig
from siamkit.training.distributed import DistributedContext, broadcast_flag, start_distributed, stop_distributed
from siamkit.training.layout import without_unsafe_channels_last
from siamkit.training.metrics_log import MetricsLog
from siamkit.training.optimization import build_optimizer, schedule_factor
from siamkit.training.progress import TrainingProgress
from siamkit.training.signature_batches import SignatureBatches
from siamkit.training.validation import validate
from siamkit.training.weight_average import create_weight_average

logger = logging.getLogger(__name__)

TrainingData = ImageDataset | VectorDataset | PairDataset | TripletDataset
ValidationData = ImageDataset | VectorDataset

MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoint"
METRICS_FILE = "metrics.jsonl"


@dataclass
class TrainResult:
    """What a finished run produced."""

    model: SiameseModel
    bundle_path: Path | None
    steps: int
    epochs_completed: int
    seconds: float
    images_per_second: float
    best_validation: dict[str, Any] | None = None
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


class EmbeddingModule(nn.Module):
    """Exposes `network.embed` as `forward`, so DistributedDataParallel's hooks see the encoder pass."""

    def __init__(self, network: SiameseNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.network.embed(inputs)


def stored_inputs(data: TrainingData | ValidationData) -> torch.Tensor:
    """The tensor of decoded inputs a data set keeps (images `uint8`, or float vectors)."""
    return data.vectors if isinstance(data, VectorDataset) else data.images


def build_loss(config: TrainConfig, network: SiameseNetwork, train_data: TrainingData) -> SiameseLoss:
    """The configured loss; class-proxy losses get one proxy per training class, sized to the embeddings.

    Raises:
        ConfigError: A class-proxy loss on data without plain class labels (pair/triplet lists, signatures,
            where forgeries are single-image classes) or on a network built without a config; a loss that
            shapes angles only (class proxies, multi-similarity) on embeddings that are neither L2-normalised
            nor compared by cosine, so the comparison would read distances the loss never trained.
    """
    if not takes_class_count(config.loss):
        loss = create_loss(config.loss, **config.loss_options)
    elif isinstance(train_data, PairDataset | TripletDataset | SignatureDataset):
        raise ConfigError(
            f"loss {config.loss!r} learns a proxy per class and needs labelled classes (data.kind 'images' or "
            "'vectors'), not pair/triplet lists or signatures"
        )
    elif network.config is None:
        raise ConfigError(f"loss {config.loss!r} needs a network built from a config (to size its proxies)")
    else:
        loss = create_loss(
            config.loss,
            num_classes=train_data.num_classes,
            embedding_dim=network.config.encoder.embedding_dim,
            **config.loss_options,
        )
    if loss.compares_angles and not (network.normalize_embeddings or isinstance(network.comparison, CosineDistance)):
        raise ConfigError(
            f"loss {config.loss!r} shapes the angles between embeddings only; set network.normalize_embeddings "
            "to true or use the cosine comparison"
        )
    return loss


def prepare_loss(config: TrainConfig, network: SiameseNetwork, train_data: TrainingData) -> SiameseLoss:
    """The configured loss (`build_loss`), checked against the network's comparison and the mining strategy.

    Raises:
        ConfigError: See `build_loss` and `siamkit.mining.check_objective`.
    """
    loss = build_loss(config, network, train_data)
    if not isinstance(train_data, PairDataset | TripletDataset):  # explicit lists are checked by pair/triplet_loss
        check_objective(network.comparison, loss, config.mining)
    return loss


def make_batch_source(data: TrainingData, config: TrainConfig, context: DistributedContext) -> BatchSource:
    """Class batches for labelled data sets, pair/triplet batches for explicit lists, writer batches with
    skilled forgeries for signatures."""
    batch_size = config.classes_per_batch * config.samples_per_class
    if isinstance(data, SignatureDataset):
        return SignatureBatches(
            data, config.classes_per_batch, config.samples_per_class, config.mining, config.seed, context
        )
    if isinstance(data, PairDataset):
        return PairBatches(data, batch_size, config.seed, context)
    if isinstance(data, TripletDataset):
        return TripletBatches(data, batch_size, config.seed, context)
    groups = example_groups(data) if config.groups_per_batch is not None else None
    return ClassBatches(
        data.labels,
        config.classes_per_batch,
        config.samples_per_class,
        config.mining,
        config.seed,
        context,
        groups=groups,
        groups_per_batch=config.groups_per_batch,
    )


def prepare_inputs(
    raw: torch.Tensor,
    preprocessing: PreprocessingConfig,
    config: TrainConfig,
    generator: torch.Generator,
    device: torch.device,
) -> torch.Tensor:
    """Decoded inputs -> normalised (and, for training images, randomly distorted) float batch."""
    if preprocessing.kind == "vector":
        return raw.to(device, dtype=torch.float32)
    images = raw.to(device).float().div_(255.0)
    if config.augmentation.enabled:
        images = augment_images(images, config.augmentation, generator)
    if preprocessing.mean != 0.0 or preprocessing.std != 1.0:
        images = (images - preprocessing.mean) / preprocessing.std
    if config.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images


def improved(value: float, best: float | None, metric: str) -> bool:
    if best is None:
        return True
    return value < best if EARLY_STOPPING_METRICS[metric] == "min" else value > best


def similarity_threshold_to_score(threshold_similarity: float, network: SiameseNetwork) -> float:
    """Converts a threshold on similarities (larger = more alike) back to the comparison's score units."""
    return threshold_similarity if network.comparison.higher_is_more_similar else -threshold_similarity


def train(
    network: SiameseNetwork,
    train_data: TrainingData,
    config: TrainConfig,
    validation_data: ValidationData | None = None,
    preprocessing: PreprocessingConfig | None = None,
    resume: bool = False,
    metadata: dict[str, Any] | None = None,
) -> TrainResult:
    """Trains `network` and writes a model bundle to `config.output_dir / "model"`.

    Args:
        network: A freshly built (or pretrained) network; seed torch before building it for a repeatable run.
        train_data: Labelled images/vectors (in-batch mining) or explicit pair/triplet lists.
        config: Loop settings.
        validation_data: Held-out classes for validation, early stopping and the decision threshold.
        preprocessing: Stored in the bundle; defaults to the training data's.
        resume: Continue from `output_dir / "checkpoint"` when it exists.
        metadata: Extra facts to store in the bundle (data set name, recipe, ...).
    """
    preprocessing = preprocessing or train_data.preprocessing
    context = start_distributed(config.device)
    try:
        return _train(network, train_data, config, validation_data, preprocessing, resume, metadata or {}, context)
    finally:
        stop_distributed(context)


def _train(
    network: SiameseNetwork,
    train_data: TrainingData,
    config: TrainConfig,
    validation_data: ValidationData | None,
    preprocessing: PreprocessingConfig,
    resume: bool,
    metadata: dict[str, Any],
    context: DistributedContext,
) -> TrainResult:
    device = context.device
    loss_function = prepare_loss(config, network, train_data).to(device)
    if context.is_distributed:
        for parameter in loss_function.parameters():  # every process starts from rank 0's class proxies
            torch.distributed.broadcast(parameter.data, src=0)
    network.to(device)
    config = without_unsafe_channels_last(config, network, device)
    if config.channels_last and preprocessing.kind == "image":
        network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    network.train()
    weight_average = (
        None if config.weight_average_decay is None else create_weight_average(network, config.weight_average_decay)
    )
    # What validation judges and the bundle holds: the averaged weights when there are any.
    kept_network = network if weight_average is None else cast(SiameseNetwork, weight_average.module)
    embedder: nn.Module = EmbeddingModule(network)
    if context.is_distributed:
        embedder = DistributedDataParallel(embedder, device_ids=[device.index] if device.type == "cuda" else None)

    batches = make_batch_source(train_data, config, context)
    steps_per_epoch = len(batches)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    if config.time_budget_minutes is not None and context.is_distributed:
        raise ConfigError("training.time_budget_minutes works in single-process runs only (remove it for torchrun)")
    optimizer = build_optimizer(network, config, loss_function)
    clock = TrainingClock(None if config.time_budget_minutes is None else config.time_budget_minutes * 60)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule_factor(config, total_steps, clock.fraction))
    augmentation_generator = torch.Generator().manual_seed(config.seed * 1000 + 17 + context.rank)
    use_autocast = config.mixed_precision and device.type == "cuda"

    checkpoint_folder = config.output_dir / CHECKPOINT_DIR
    metrics_log = MetricsLog(config.output_dir / METRICS_FILE, enabled=context.is_main)
    loop, best_state = LoopState(), None
    if resume and (checkpoint_folder / "state.json").exists():
        loop, best_state = load_checkpoint(
            checkpoint_folder, network, optimizer, scheduler, augmentation_generator, loss_function, weight_average
        )
        metrics_log.truncate_after(loop.step)
        clock.restore(float(loop.extra.get("elapsed_seconds", 0.0)))  # the scheduler holds this same clock
        logger.info("resumed at step %d (epoch %d, batch %d)", loop.step, loop.epoch, loop.batch_in_epoch)
    else:
        metrics_log.clear()

    def checkpoint() -> None:
        loop.extra["elapsed_seconds"] = clock.elapsed()
        if context.is_main:
            save_checkpoint(
                checkpoint_folder,
                network,
                best_state,
                optimizer,
                scheduler,
                augmentation_generator,
                loop,
                loss_function,
                weight_average,
            )

    inputs = stored_inputs(train_data)
    images_seen, started = 0, time.perf_counter()
    with TrainingProgress(total_steps, loop.step, enabled=config.show_progress and context.is_main) as progress:
        while loop.step < total_steps and not loop.stopped_early and not clock.spent():
            batches.set_epoch(loop.epoch)
            for batch_index, batch in enumerate(batches):
                if batch_index < loop.batch_in_epoch:
                    continue  # consumed before a resume
                if loop.step >= total_steps or clock.spent():
                    break
                loss = training_step(
                    embedder,
                    network,
                    batch,
                    batches,
                    loss_function,
                    optimizer,
                    inputs,
                    preprocessing,
                    config,
                    augmentation_generator,
                    device,
                    use_autocast,
                )
                scheduler.step()
                if weight_average is not None:
                    weight_average.update_parameters(network)
                loop.step += 1
                loop.batch_in_epoch = batch_index + 1
                images_seen += batch.input_indices.numel() * context.world_size
                rate = images_seen / max(1e-9, time.perf_counter() - started)
                progress.update(loop.step, loop.epoch, loss, rate)
                if loop.step % config.log_every_steps == 0 or loop.step == total_steps:
                    metrics_log.write(
                        {
                            "step": loop.step,
                            "epoch": loop.epoch,
                            "loss": loss,
                            "images_per_second": rate,
                            "learning_rate": scheduler.get_last_lr()[0],
                            "time": time.time(),
                        }
                    )
                if config.checkpoint_every_steps and loop.step % config.checkpoint_every_steps == 0:
                    checkpoint()
            if loop.batch_in_epoch >= steps_per_epoch:
                loop.epoch += 1
                loop.batch_in_epoch = 0
            epoch_done = loop.batch_in_epoch == 0
            due = epoch_done and loop.epoch % config.validation_every_epochs == 0
            if validation_data is not None and (due or loop.step >= total_steps or clock.spent()):
                stop, best_state = _validate_and_track(
                    kept_network,
                    validation_data,
                    preprocessing,
                    config,
                    context,
                    loop,
                    best_state,
                    metrics_log,
                    progress,
                )
                loop.stopped_early = stop
            checkpoint()

    seconds = time.perf_counter() - started
    if best_state is not None:
        network.load_state_dict(best_state)
    elif weight_average is not None:
        network.load_state_dict(weight_average.module.state_dict())
    network.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    threshold = provenance = None
    best_validation = loop.extra.get("best_validation")
    if best_validation is not None:
        threshold = similarity_threshold_to_score(loop.extra["best_threshold_similarity"], network)
        pairs = loop.extra.get("best_validation_pairs", {})  # absent in checkpoints of older versions
        provenance = threshold_provenance(
            "the training run's validation classes (the best validation's EER point)", method="eer",
            eer=best_validation["eer"], n_same=pairs.get("n_same"), n_different=pairs.get("n_different"),
        )  # fmt: skip
    model = SiameseModel(network, preprocessing, threshold=threshold, device=device, threshold_provenance=provenance)
    model.metadata = {
        **metadata,
        "training": {
            "config": config.to_dict(),
            "steps": loop.step,
            "epochs_completed": loop.epoch,
            "seconds": round(seconds, 2),
            "world_size": context.world_size,
            "validation": best_validation,
            "stopped_early": loop.stopped_early,
        },
    }
    bundle_path = None
    if context.is_main:
        bundle_path = config.output_dir / MODEL_DIR
        model.save(bundle_path)
        _plot_history(metrics_log, config.output_dir)
    return TrainResult(
        model=model,
        bundle_path=bundle_path,
        steps=loop.step,
        epochs_completed=loop.epoch,
        seconds=seconds,
        images_per_second=images_seen / max(1e-9, seconds),
        best_validation=best_validation,
        stopped_early=loop.stopped_early,
        history=metrics_log.read() if context.is_main else [],
    )


def training_step(
    embedder: nn.Module,
    network: SiameseNetwork,
    batch: Batch,
    batches: BatchSource,
    loss_function: SiameseLoss,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    preprocessing: PreprocessingConfig,
    config: TrainConfig,
    generator: torch.Generator,
    device: torch.device,
    use_autocast: bool,
) -> float:
    """One optimiser step: encode the batch's inputs once, form the loss from the embeddings, update."""
    batch_inputs = prepare_inputs(inputs[batch.input_indices], preprocessing, config, generator, device)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_autocast):
        embeddings = embedder(batch_inputs)
    loss = batches.loss(embeddings.float(), batch, network.comparison, loss_function)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _validate_and_track(
    network: SiameseNetwork,
    validation_data: ValidationData,
    preprocessing: PreprocessingConfig,
    config: TrainConfig,
    context: DistributedContext,
    loop: LoopState,
    best_state: dict[str, torch.Tensor] | None,
    metrics_log: MetricsLog,
    progress: TrainingProgress,
) -> tuple[bool, dict[str, torch.Tensor] | None]:
    """Validates on rank 0, keeps the best weights, and agrees on early stopping across processes."""
    result = None
    stop = False
    if context.is_main:
        result = validate(network, validation_data, preprocessing, config, context.device)
        value = result.value(config.early_stopping_metric)
        if improved(value, loop.best_metric, config.early_stopping_metric):
            loop.best_metric, loop.best_step = value, loop.step
            loop.validations_without_improvement = 0
            best_state = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
            # Kept with the loop state (and so in checkpoints): the bundle's threshold is the best weights' EER
            # threshold, with no second pass over the validation data at the end.
            loop.extra["best_validation"] = result.to_dict()
            metrics = result.metrics
            loop.extra["best_threshold_similarity"] = float(metrics.eer_threshold)
            loop.extra["best_validation_pairs"] = {"n_same": metrics.n_same, "n_different": metrics.n_different}
        else:
            loop.validations_without_improvement += 1
        patience = config.early_stopping_patience
        stop = patience is not None and loop.validations_without_improvement >= patience
        metrics_log.write({"step": loop.step, "epoch": loop.epoch, "validation": result.to_dict()})
        progress.note(
            f"step {loop.step}: validation EER {result.metrics.eer:.4f}, AUC {result.metrics.auc:.4f}"
            + (f", {result.ways}-way one-shot {result.one_shot_accuracy:.4f}" if result.one_shot_accuracy else "")
        )
    return broadcast_flag(stop, context), best_state


def _plot_history(metrics_log: MetricsLog, output_dir: Path) -> None:
    from siamkit.evaluation.plots import plot_training_curves

    records = metrics_log.read()
    if records:
        plot_training_curves(records, output_dir / "plots" / "training_curves.png")
