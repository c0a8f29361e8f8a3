"""Batches of P classes x K examples, the batch layout that pair and triplet mining need.

Every batch holds `classes_per_batch` distinct classes with `samples_per_class` examples each, so every
example has K-1 positives and (P-1)K negatives inside its batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from siamkit.errors import ConfigError

# A class needs two distinct examples to give a positive pair.
_MIN_EXAMPLES = 2


class ClassBalancedSampler:
    """Yields batches of indices: P classes x K examples, deterministic given `(seed, epoch)`.

    Layout: `batch[i * K : (i + 1) * K]` are K examples of one class; the P classes of a batch are distinct.
    Pass it to `torch.utils.data.DataLoader(dataset, batch_sampler=sampler)`, or index tensors directly.

    Each epoch, every class's examples are shuffled and cut into chunks of K; a batch takes one chunk from each
    of P classes drawn with probability proportional to how many unused chunks they have left, so an epoch
    visits nearly every example once and large classes are not over-represented. Only when fewer than P
    classes have chunks left are the used-up classes reshuffled for another round. The leftover examples of a
    class (fewer than K after chunking) wait for a later epoch's shuffle.

    Small classes: a class with at least 2 but fewer than K examples is topped up with repeats of its own
    examples (drawn with replacement), so it still gives positives; a class with 1 example cannot give a
    positive pair and is never sampled.

    Distributed training: the *global* batch has P classes x K; with `world_size` ranks, each rank gets
    P / world_size of those classes (P must divide evenly), all K examples of each. Every rank computes the
    same global plan from `(seed, epoch)` and keeps its own slice, so ranks see disjoint classes and agree on
    the number of batches.

    Grouped batches (`groups_per_batch` G with `groups`): a batch takes P / G classes from each of G distinct
    groups (Omniglot alphabets), so its negatives are mostly same-group look-alikes, the ones a within-group
    test has to tell apart. Groups are drawn with probability proportional to their unused chunks, classes
    inside a group likewise; the rank split above is unchanged.

    Args:
        labels: `(N,)` integer class label of every example.
        classes_per_batch: P, distinct classes per global batch (at least 2).
        samples_per_class: K, examples per class in a batch (at least 1; 2 or more for positives).
        seed: Base seed; epoch e uses `(seed, e)`.
        rank: This process's rank in `0..world_size-1`.
        world_size: Number of distributed processes.
        groups: `(N,)` integer group of every example (all examples of a class in one group); needed by
            `groups_per_batch`, ignored without it.
        groups_per_batch: G, distinct groups per global batch (must divide P); None draws classes from all
            groups at once.
    """

    def __init__(
        self,
        labels: torch.Tensor | Sequence[int] | np.ndarray,
        classes_per_batch: int,
        samples_per_class: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        groups: torch.Tensor | Sequence[int] | np.ndarray | None = None,
        groups_per_batch: int | None = None,
    ) -> None:
        label_array = torch.as_tensor(labels).cpu().numpy()
        if label_array.ndim != 1:
            raise ConfigError(f"sampler labels must be one-dimensional, got shape {label_array.shape}")
        if classes_per_batch < 2:
            raise ConfigError(f"classes_per_batch must be at least 2, got {classes_per_batch}")
        if samples_per_class < 1:
            raise ConfigError(f"samples_per_class must be at least 1, got {samples_per_class}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"rank must be in 0..world_size-1, got rank {rank} of world_size {world_size}")
        if classes_per_batch % world_size:
            raise ConfigError(
                f"classes_per_batch ({classes_per_batch}) must be divisible by world_size ({world_size}): "
                "each rank takes an equal share of the classes of a global batch"
            )
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        classes, inverse = np.unique(label_array, return_inverse=True)
        members = [np.flatnonzero(inverse == position) for position in range(len(classes))]
        self._members = [indices for indices in members if len(indices) >= _MIN_EXAMPLES]
        if len(self._members) < classes_per_batch:
            raise ConfigError(
                f"classes_per_batch is {classes_per_batch} but only {len(self._members)} classes have at least "
                f"{_MIN_EXAMPLES} examples"
            )
        self.groups_per_batch = groups_per_batch
        self._group_members: list[np.ndarray] = []
        if groups_per_batch is not None:
            self._group_members = self._grouped_classes(label_array, groups, groups_per_batch)
        self._chunks_per_class = np.array([self._chunk_count(len(indices)) for indices in self._members])
        self._num_batches = max(1, int(self._chunks_per_class.sum()) // classes_per_batch)

    def _grouped_classes(
        self,
        label_array: np.ndarray,
        groups: torch.Tensor | Sequence[int] | np.ndarray | None,
        groups_per_batch: int,
    ) -> list[np.ndarray]:
        """Positions (into `self._members`) of the classes of every group that can fill its share of a batch."""
        if groups is None:
            raise ConfigError("groups_per_batch needs the group of every example (groups)")
        group_array = torch.as_tensor(groups).cpu().numpy()
        if group_array.shape != label_array.shape:
            raise ConfigError(f"sampler groups have shape {group_array.shape}, labels {label_array.shape}")
        if groups_per_batch < 1 or self.classes_per_batch % groups_per_batch:
            raise ConfigError(
                f"groups_per_batch ({groups_per_batch}) must be at least 1 and divide classes_per_batch "
                f"({self.classes_per_batch})"
            )
        class_groups = []
        for indices in self._members:
            owners = np.unique(group_array[indices])
            if len(owners) != 1:
                raise ConfigError(f"class {label_array[indices[0]]} has examples in {len(owners)} groups")
            class_groups.append(owners[0])
        class_groups_array = np.array(class_groups)
        per_group = self.classes_per_batch // groups_per_batch
        group_members = [np.flatnonzero(class_groups_array == group) for group in np.unique(class_groups_array)]
        usable = [members for members in group_members if len(members) >= per_group]
        if len(usable) < groups_per_batch:
            raise ConfigError(
                f"groups_per_batch is {groups_per_batch} but only {len(usable)} groups have at least "
                f"{per_group} classes (classes_per_batch / groups_per_batch)"
            )
        return usable

    def _choose_classes(self, remaining: np.ndarray, random: np.random.Generator) -> np.ndarray:
        """The P class positions of one batch, from classes with chunks left (grouped when asked)."""
        if self.groups_per_batch is None:
            return random.choice(
                len(remaining), size=self.classes_per_batch, replace=False, p=remaining / remaining.sum()
            )
        per_group = self.classes_per_batch // self.groups_per_batch
        eligible = [members for members in self._group_members if np.count_nonzero(remaining[members]) >= per_group]
        group_weights = np.array([remaining[members].sum() for members in eligible])
        chosen_groups = random.choice(
            len(eligible), size=self.groups_per_batch, replace=False, p=group_weights / group_weights.sum()
        )
        chosen = []
        for group_position in chosen_groups:
            members = eligible[group_position]
            weights = remaining[members]
            chosen.append(random.choice(members, size=per_group, replace=False, p=weights / weights.sum()))
        return np.concatenate(chosen)

    def _too_few_left(self, remaining: np.ndarray) -> bool:
        """Whether the classes with chunks left can no longer fill a batch (time to reshuffle used-up ones)."""
        if self.groups_per_batch is None:
            return int(np.count_nonzero(remaining)) < self.classes_per_batch
        per_group = self.classes_per_batch // self.groups_per_batch
        filled = sum(np.count_nonzero(remaining[members]) >= per_group for members in self._group_members)
        return bool(filled < self.groups_per_batch)

    @property
    def batch_size(self) -> int:
        """Indices per batch on this rank: (P / world_size) x K."""
        return self.classes_per_batch // self.world_size * self.samples_per_class

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch whose batches the next iteration yields (call it once per epoch, on every rank)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Batches per epoch: about N / (P x K), the same on every rank and in every epoch."""
        return self._num_batches

    def _chunk_count(self, size: int) -> int:
        return max(1, size // self.samples_per_class)

    def _chunks(self, members: np.ndarray, random: np.random.Generator) -> list[np.ndarray]:
        """A fresh shuffle of one class cut into chunks of K (a small class is topped up with repeats)."""
        shuffled = random.permutation(members)
        size = self.samples_per_class
        if len(shuffled) < size:
            extra = random.choice(shuffled, size=size - len(shuffled), replace=True)
            return [np.concatenate([shuffled, extra])]
        return [shuffled[start : start + size] for start in range(0, len(shuffled) - size + 1, size)]

    def __iter__(self) -> Iterator[list[int]]:
        random = np.random.default_rng([self.seed, self.epoch])
        pending = [self._chunks(members, random) for members in self._members]
        remaining = np.array([len(chunks) for chunks in pending], dtype=np.float64)
        share = self.classes_per_batch // self.world_size
        own = slice(self.rank * share, (self.rank + 1) * share)
        for _ in range(self._num_batches):
            exhausted = np.flatnonzero(remaining == 0)
            if self._too_few_left(remaining):
                # Reshuffle used-up classes only when too few classes are left: every chunk is used first.
                for class_position in exhausted:
                    pending[class_position] = self._chunks(self._members[class_position], random)
                    remaining[class_position] = len(pending[class_position])
            chosen = self._choose_classes(remaining, random)
            batch: list[int] = []
            for position, class_position in enumerate(chosen):
                chunk = pending[class_position].pop()
                remaining[class_position] -= 1
                if own.start <= position < own.stop:
                    batch.extend(int(index) for index in chunk)
            yield batch
