"""Batches of writers, each with genuine signatures *and* skilled forgeries of them.

Skilled forgeries are only useful negatives next to the signatures they imitate, so every writer in a batch
brings `genuine_per_writer` genuine signatures and up to `forgeries_per_writer` forgeries of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from siamkit.data.sampler import ClassBalancedSampler


class WriterBatchSampler:
    """Yields batches of indices: P writers x (K genuine + F forgeries), deterministic given `(seed, epoch)`.

    Layout: for each writer of a batch, its K genuine signatures, then its F forgeries (fewer when the writer
    has fewer; none when it has none). Writers and genuine chunks are drawn as `ClassBalancedSampler` draws
    classes (so an epoch visits nearly every genuine signature once, and distributed ranks take disjoint
    writers); forgeries are drawn from a per-writer shuffle that is refilled when used up.

    Args:
        writers: `(N,)` writer of every signature.
        genuine: `(N,)` True for genuine signatures, False for forgeries.
        writers_per_batch: P, distinct writers per global batch.
        genuine_per_writer: K, genuine signatures per writer in a batch.
        forgeries_per_writer: F, forgeries per writer in a batch.
        seed: Base seed; epoch e uses `(seed, e)`.
        rank: This process's rank.
        world_size: Number of distributed processes.
    """

    def __init__(
        self,
        writers: torch.Tensor,
        genuine: torch.Tensor,
        writers_per_batch: int,
        genuine_per_writer: int,
        forgeries_per_writer: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        writer_array = torch.as_tensor(writers).cpu().numpy()
        genuine_array = torch.as_tensor(genuine).cpu().numpy().astype(bool)
        self._genuine_indices = np.flatnonzero(genuine_array)
        self._writer_sampler = ClassBalancedSampler(
            writer_array[self._genuine_indices],
            writers_per_batch,
            genuine_per_writer,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )
        self._writers = writer_array
        self._forgeries = {
            int(writer): np.flatnonzero(~genuine_array & (writer_array == writer)) for writer in np.unique(writer_array)
        }
        self.genuine_per_writer = genuine_per_writer
        self.forgeries_per_writer = forgeries_per_writer
        self.seed = seed
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch whose batches the next iteration yields."""
        self.epoch = int(epoch)
        self._writer_sampler.set_epoch(epoch)

    def __len__(self) -> int:
        """Batches per epoch: about (genuine signatures) / (P x K)."""
        return len(self._writer_sampler)

    def __iter__(self) -> Iterator[list[int]]:
        random = np.random.default_rng([self.seed, self.epoch, self.rank, 1])
        queues: dict[int, list[int]] = {}

        def draw_forgeries(writer: int) -> list[int]:
            pool = self._forgeries[writer]
            wanted = min(self.forgeries_per_writer, len(pool))
            drawn: list[int] = []
            while len(drawn) < wanted:
                if not queues.get(writer):
                    # A fresh shuffle without the ones already drawn for this batch, so a batch has no repeats.
                    queues[writer] = [int(index) for index in random.permutation(pool) if int(index) not in drawn]
                drawn.append(queues[writer].pop())
            return drawn

        size = self.genuine_per_writer
        for positions in self._writer_sampler:
            batch: list[int] = []
            for start in range(0, len(positions), size):
                chunk = [int(self._genuine_indices[position]) for position in positions[start : start + size]]
                batch.extend(chunk)
                batch.extend(draw_forgeries(int(self._writers[chunk[0]])))
            yield batch
