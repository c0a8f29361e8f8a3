"""P x K class-balanced batches: layout, coverage, determinism and distributed slicing."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from siamkit.data import ClassBalancedSampler
from siamkit.errors import ConfigError


def uneven_labels() -> torch.Tensor:
    # 12 classes of 4..15 examples, shuffled so that a class's examples are not contiguous.
    labels = torch.cat([torch.full((4 + class_index,), class_index) for class_index in range(12)])
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]


def test_every_batch_is_p_classes_by_k_examples():
    labels = uneven_labels()
    sampler = ClassBalancedSampler(labels, classes_per_batch=4, samples_per_class=3, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        assert len(batch) == 12 == sampler.batch_size
        classes = [labels[batch[start : start + 3]].unique().tolist() for start in range(0, 12, 3)]
        assert all(len(block) == 1 for block in classes)  # each K-block is one class
        assert len({block[0] for block in classes}) == 4  # P distinct classes
        assert len(set(batch)) == 12  # no repeats: every class here has at least K examples


def test_an_epoch_covers_the_data_about_once():
    labels = torch.arange(10).repeat_interleave(8)
    sampler = ClassBalancedSampler(labels, classes_per_batch=4, samples_per_class=2)
    assert len(sampler) == 80 // (4 * 2)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        seen = [index for batch in sampler for index in batch]
        assert len(seen) == 80 and len(set(seen)) >= 70


def test_batches_depend_only_on_seed_and_epoch():
    labels = uneven_labels()
    first = ClassBalancedSampler(labels, 4, 2, seed=5)
    second = ClassBalancedSampler(labels, 4, 2, seed=5)
    assert list(first) == list(second) == list(first)  # iterating again repeats the epoch
    first.set_epoch(1)
    assert list(first) != list(second)
    second.set_epoch(1)
    assert list(first) == list(second)
    assert list(ClassBalancedSampler(labels, 4, 2, seed=6)) != list(ClassBalancedSampler(labels, 4, 2, seed=5))


def test_ranks_get_disjoint_classes_of_the_same_global_batch():
    labels = uneven_labels()
    whole = list(ClassBalancedSampler(labels, 4, 2, seed=3))
    ranks = [ClassBalancedSampler(labels, 4, 2, seed=3, rank=rank, world_size=2) for rank in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(whole)
    for global_batch, part0, part1 in zip(whole, *ranks, strict=True):
        assert len(part0) == len(part1) == 4
        assert set(labels[part0].tolist()).isdisjoint(labels[part1].tolist())
        assert part0 + part1 == global_batch


def test_small_classes_are_topped_up_and_single_examples_skipped():
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3])  # class 0 has 3 < K, class 3 has 1
    sampler = ClassBalancedSampler(labels, classes_per_batch=2, samples_per_class=4, seed=0)
    seen_classes = set()
    for epoch in range(5):
        sampler.set_epoch(epoch)
        for batch in sampler:
            for start in (0, 4):
                block = labels[batch[start : start + 4]]
                assert block.unique().numel() == 1
                seen_classes.add(int(block[0]))
    assert seen_classes == {0, 1, 2}


def test_works_as_a_dataloader_batch_sampler():
    labels = uneven_labels()
    dataset = TensorDataset(torch.arange(len(labels)), labels)
    loader = DataLoader(dataset, batch_sampler=ClassBalancedSampler(labels, 3, 2))
    indices, batch_labels = next(iter(loader))
    assert indices.shape == (6,) and torch.equal(batch_labels, labels[indices])


def test_bad_settings_are_rejected():
    labels = torch.tensor([0, 0, 1, 1, 2])
    with pytest.raises(ConfigError, match="only 2 classes have at least 2 examples"):
        ClassBalancedSampler(labels, classes_per_batch=3, samples_per_class=2)
    with pytest.raises(ConfigError, match="must be divisible by world_size"):
        ClassBalancedSampler(labels, classes_per_batch=2, samples_per_class=2, world_size=3, rank=0)
    with pytest.raises(ConfigError, match="rank must be in"):
        ClassBalancedSampler(labels, classes_per_batch=2, samples_per_class=2, world_size=2, rank=2)
