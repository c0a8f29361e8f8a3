"""Class batches grouped by alphabet: group of every example (rotated copies included) and config wiring."""

from __future__ import annotations

import json

import pytest
import torch

from siamkit.data.class_expansion import expand_classes, original_class_name
from siamkit.data.image_folder import ImageDataset
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import ConfigError
from siamkit.training.batches import ClassBatches, example_groups
from siamkit.training.config import TrainConfig
from siamkit.training.distributed import DistributedContext
from siamkit.training.presets import load_preset
from siamkit.training.recipe import TrainingRecipe


def alphabets() -> ImageDataset:
    # Alphabet "Beta" holds classes 0 and 2, "Alpha" class 1; two 4x4 images per class.
    names = ["Beta/character01", "Alpha/character01", "Beta/character02"]
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    images = torch.arange(6 * 16, dtype=torch.uint8).reshape(6, 1, 4, 4)
    return ImageDataset(images, labels, names, [f"{index}.png" for index in range(6)], PreprocessingConfig())


def test_rotated_copies_keep_the_name_of_their_original() -> None:
    assert original_class_name("Alphabet/character01/rotate90") == "Alphabet/character01"
    assert original_class_name("Alphabet/character01/identity") == "Alphabet/character01"
    assert original_class_name("Alphabet/character01") == "Alphabet/character01"


def test_every_example_gets_its_alphabet_including_rotated_copies() -> None:
    # Sorted groups: Alpha = 0, Beta = 1.
    assert example_groups(alphabets()).tolist() == [1, 1, 0, 0, 1, 1]
    expanded = expand_classes(alphabets(), ["identity", "rotate90"])
    assert expanded.class_names[3] == "Beta/character01/rotate90"
    assert example_groups(expanded).tolist() == [1, 1, 0, 0, 1, 1] * 2


def test_grouped_class_batches_come_from_one_alphabet() -> None:
    data = expand_classes(alphabets(), ["identity", "rotate90", "rotate180"])
    groups = example_groups(data)
    batches = ClassBatches(
        data.labels, 2, 2, "hard", seed=0, context=DistributedContext(), groups=groups, groups_per_batch=1
    )
    for batch in batches:
        assert len(batch.input_indices) == 4
        assert len(set(groups[batch.input_indices].tolist())) == 1


def test_groups_per_batch_is_checked_and_survives_a_recipe_round_trip() -> None:
    with pytest.raises(ConfigError, match="groups_per_batch"):
        TrainConfig(classes_per_batch=32, groups_per_batch=3)
    assert TrainConfig().groups_per_batch is None
    recipe = load_preset("omniglot-best")
    recipe.training.groups_per_batch = 4
    again = TrainingRecipe.from_dict(json.loads(json.dumps(recipe.to_dict())))
    assert again.training.groups_per_batch == 4
