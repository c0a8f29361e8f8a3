"""Batch sources: what one training step looks at, and how its loss is formed from embeddings.

`ClassBatches` draws P classes x K examples and forms pairs/triplets from the embeddings (each input
encoded once, pairs spanning the global batch under torchrun). `PairBatches` and `TripletBatches` train on
explicit pair or triplet lists, encoding each distinct input of a batch once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from siamkit.comparisons import Comparison
from siamkit.data.class_expansion import original_class_name
from siamkit.data.class_split import group_of
from siamkit.data.image_folder import ImageDataset
from siamkit.data.pairs_csv import PairDataset, TripletDataset
from siamkit.data.sampler import ClassBalancedSampler
from siamkit.errors import ConfigError
from siamkit.losses import SiameseLoss
from siamkit.mining import in_batch_loss, pair_loss, triplet_loss
from siamkit.training.distributed import DistributedContext, gather_across_processes


@dataclass
class Batch:
    """One step's work: which stored inputs to encode, and what to compare among their embeddings.

    Attributes:
        input_indices: Rows of the stored inputs to encode (each once).
        labels: Class labels of those rows (class batches).
        positions: For explicit pairs/triplets, columns of positions into `input_indices`
            (first/second, or anchor/positive/negative).
        targets: Pair labels (1 = same, 0 = different) or target distances for explicit pairs.
    """

    input_indices: torch.Tensor
    labels: torch.Tensor | None = None
    positions: tuple[torch.Tensor, ...] = ()
    targets: torch.Tensor | None = None


def example_groups(data: object) -> torch.Tensor:
    """The group (alphabet) index of every example of an image-folder data set, for grouped batches.

    Rotated/reflected copies of a class (`data.class_expansion`) belong to the group of their original.
    """
    if not isinstance(data, ImageDataset):
        raise ConfigError("training.groups_per_batch needs image folders grouped in subfolders (kind 'images')")
    class_groups = [group_of(original_class_name(name)) for name in data.class_names]
    group_index = {name: position for position, name in enumerate(sorted(set(class_groups)))}
    per_class = torch.tensor([group_index[name] for name in class_groups], dtype=torch.long)
    return per_class[data.labels.long()]


class IndexSampler(Protocol):
    """What a class batch source draws from: per-epoch lists of example indices, one list per batch."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[list[int]]: ...

    def set_epoch(self, epoch: int) -> None: ...


class ClassBatches:
    """P x K class-balanced batches with in-batch mining (optionally P / G classes from each of G groups).

    Subclasses with another sampling scheme pass their own `sampler` (anything with `__len__`, `__iter__` of
    index lists and `set_epoch`) and override `loss`; iteration and labelling stay shared.
    """

    def __init__(
        self,
        labels: torch.Tensor,
        classes_per_batch: int,
        samples_per_class: int,
        mining: str,
        seed: int,
        context: DistributedContext,
        groups: torch.Tensor | None = None,
        groups_per_batch: int | None = None,
        sampler: IndexSampler | None = None,
    ) -> None:
        self.labels = labels
        self.mining = mining
        self.context = context
        self.sampler: IndexSampler = sampler or ClassBalancedSampler(
            labels,
            classes_per_batch,
            samples_per_class,
            seed=seed,
            rank=context.rank,
            world_size=context.world_size,
            groups=groups,
            groups_per_batch=groups_per_batch,
        )

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:
        for indices in self.sampler:
            index_tensor = torch.as_tensor(indices, dtype=torch.long)
            yield Batch(input_indices=index_tensor, labels=self.labels[index_tensor])

    def loss(self, embeddings: torch.Tensor, batch: Batch, comparison: Comparison, loss: SiameseLoss) -> torch.Tensor:
        assert batch.labels is not None
        labels = batch.labels.to(embeddings.device)
        all_embeddings = gather_across_processes(embeddings, self.context)
        all_labels = gather_across_processes(labels, self.context)
        return in_batch_loss(all_embeddings, all_labels, comparison, loss, strategy=self.mining)


class _ExplicitBatches:
    """Shared shuffling of explicit pair/triplet lists into per-process batches."""

    def __init__(self, columns: tuple[torch.Tensor, ...], batch_size: int, seed: int, context: DistributedContext):
        self.columns = columns
        self.batch_size = batch_size
        self.seed = seed
        self.context = context
        self.epoch = 0
        count = columns[0].shape[0]
        if count == 0:
            raise ConfigError("the pair/triplet list is empty")
        self.rows_per_process = max(1, count // context.world_size)

    def __len__(self) -> int:
        return max(1, self.rows_per_process // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _row_batches(self) -> Iterator[torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.columns[0].shape[0], generator=generator)
        mine = order[self.context.rank :: self.context.world_size][: self.rows_per_process]
        for batch_index in range(len(self)):
            yield mine[batch_index * self.batch_size : (batch_index + 1) * self.batch_size]

    def _batch(self, rows: torch.Tensor, targets: torch.Tensor | None) -> Batch:
        stacked = torch.stack([column[rows] for column in self.columns])
        unique, inverse = torch.unique(stacked, return_inverse=True)
        return Batch(input_indices=unique, positions=tuple(inverse), targets=targets)


class PairBatches(_ExplicitBatches):
    """Batches of explicit (first, second, label-or-target) pairs."""

    def __init__(self, pairs: PairDataset, batch_size: int, seed: int, context: DistributedContext) -> None:
        super().__init__((pairs.first_index, pairs.second_index), batch_size, seed, context)
        self.targets = pairs.labels

    def __iter__(self) -> Iterator[Batch]:
        for rows in self._row_batches():
            yield self._batch(rows, self.targets[rows])

    def loss(self, embeddings: torch.Tensor, batch: Batch, comparison: Comparison, loss: SiameseLoss) -> torch.Tensor:
        first, second = batch.positions
        assert batch.targets is not None
        return pair_loss(embeddings[first], embeddings[second], batch.targets.to(embeddings.device), comparison, loss)


class TripletBatches(_ExplicitBatches):
    """Batches of explicit (anchor, positive, negative) triplets."""

    def __init__(self, triplets: TripletDataset, batch_size: int, seed: int, context: DistributedContext) -> None:
        super().__init__(
            (triplets.anchor_index, triplets.positive_index, triplets.negative_index), batch_size, seed, context
        )

    def __iter__(self) -> Iterator[Batch]:
        for rows in self._row_batches():
            yield self._batch(rows, None)

    def loss(self, embeddings: torch.Tensor, batch: Batch, comparison: Comparison, loss: SiameseLoss) -> torch.Tensor:
        anchor, positive, negative = batch.positions
        return triplet_loss(embeddings[anchor], embeddings[positive], embeddings[negative], comparison, loss)


BatchSource = ClassBatches | PairBatches | TripletBatches
