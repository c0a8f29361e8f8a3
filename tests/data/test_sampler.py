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


def grouped_labels() -> tuple[torch.Tensor, torch.Tensor]:
    # 3 groups: group 0 holds classes 0-3, group 1 classes 4-7, group 2 classes 8-9; 6 examples per class.
    labels = torch.arange(10).repeat_interleave(6)
    class_group = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    return labels, class_group[labels]


def test_grouped_batches_take_p_over_g_classes_from_each_of_g_groups():
    labels, groups = grouped_labels()
    sampler = ClassBalancedSampler(labels, 4, 2, seed=2, groups=groups, groups_per_batch=2)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 60 // 8
    drawn_groups = set()
    for epoch in range(4):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len(batch) == 8
            blocks = [labels[batch[start : start + 2]].unique().tolist() for start in range(0, 8, 2)]
            assert all(len(block) == 1 for block in blocks)  # still K examples of one class per block
            classes = [block[0] for block in blocks]
            assert len(set(classes)) == 4  # P distinct classes
            block_groups = [int(groups[labels == label][0]) for label in classes]
            assert len(set(block_groups)) == 2  # exactly G groups ...
            assert all(block_groups.count(group) == 2 for group in set(block_groups))  # ... P / G classes each
            drawn_groups.update(block_groups)
    assert drawn_groups == {0, 1, 2}


def test_grouped_batches_skip_groups_too_small_for_their_share():
    labels, groups = grouped_labels()
    # P / G = 3 classes per group: group 2 (2 classes) can never fill its share, so batches use groups 0 and 1.
    sampler = ClassBalancedSampler(labels, 6, 2, seed=0, groups=groups, groups_per_batch=2)
    for batch in sampler:
        assert {int(groups[index]) for index in batch} == {0, 1}


def test_grouped_batches_are_deterministic_and_leave_the_default_unchanged():
    labels, groups = grouped_labels()
    grouped = list(ClassBalancedSampler(labels, 4, 2, seed=1, groups=groups, groups_per_batch=2))
    assert grouped == list(ClassBalancedSampler(labels, 4, 2, seed=1, groups=groups, groups_per_batch=2))
    # Groups without groups_per_batch change nothing.
    assert list(ClassBalancedSampler(labels, 4, 2, seed=1, groups=groups)) == list(
        ClassBalancedSampler(labels, 4, 2, seed=1)
    )


def test_grouped_batches_reject_bad_settings():
    labels, groups = grouped_labels()
    with pytest.raises(ConfigError, match="divide"):
        ClassBalancedSampler(labels, 4, 2, groups=groups, groups_per_batch=3)
    with pytest.raises(ConfigError, match="groups"):
        ClassBalancedSampler(labels, 4, 2, groups_per_batch=2)
    with pytest.raises(ConfigError, match="only 2 groups"):
        ClassBalancedSampler(labels, 9, 2, groups=groups, groups_per_batch=3)
    mixed = groups.clone()
    mixed[0] = 1  # one example of class 0 in another group
    with pytest.raises(ConfigError, match="class 0"):
        ClassBalancedSampler(labels, 4, 2, groups=mixed, groups_per_batch=2)
