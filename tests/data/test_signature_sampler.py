"""Writer batches: each writer of a batch brings K genuine signatures and F forgeries of its own."""

from __future__ import annotations

import torch

from siamkit.data.signature_sampler import WriterBatchSampler

# 5 writers x (6 genuine + 4 forgeries), genuine and forgeries interleaved to catch index mix-ups.
WRITERS = torch.arange(5).repeat_interleave(10)
GENUINE = torch.tensor([True, False, True, True, False, True, False, True, True, False] * 5)


def test_each_writer_brings_genuine_signatures_then_its_own_forgeries() -> None:
    sampler = WriterBatchSampler(WRITERS, GENUINE, writers_per_batch=3, genuine_per_writer=2, forgeries_per_writer=2)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 5  # 30 genuine / (3 x 2)
    for batch in batches:
        assert len(batch) == 12 and len(set(batch)) == 12
        groups = [batch[start : start + 4] for start in range(0, 12, 4)]
        assert len({int(WRITERS[group[0]]) for group in groups}) == 3
        for group in groups:
            assert {int(WRITERS[index]) for index in group} == {int(WRITERS[group[0]])}
            assert [bool(GENUINE[index]) for index in group] == [True, True, False, False]


def test_an_epoch_visits_every_genuine_signature_once_and_is_repeatable() -> None:
    sampler = WriterBatchSampler(WRITERS, GENUINE, writers_per_batch=3, genuine_per_writer=2, forgeries_per_writer=1)
    genuine_seen = [index for batch in sampler for index in batch if GENUINE[index]]
    assert sorted(genuine_seen) == torch.nonzero(GENUINE).flatten().tolist()
    assert list(sampler) == list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != list(WriterBatchSampler(WRITERS, GENUINE, 3, 2, 1))


def test_a_writer_with_fewer_forgeries_gives_what_it_has() -> None:
    writers = torch.tensor([0, 0, 0, 1, 1, 1])
    genuine = torch.tensor([True, True, False, True, True, True])
    sampler = WriterBatchSampler(writers, genuine, writers_per_batch=2, genuine_per_writer=2, forgeries_per_writer=3)
    (batch,) = list(sampler)
    assert sorted(batch) == [0, 1, 2, 3, 4, 5] or sorted(batch) in ([0, 1, 2, 3, 4], [0, 1, 2, 3, 5], [0, 1, 2, 4, 5])
    assert sum(not genuine[index] for index in batch) == 1
