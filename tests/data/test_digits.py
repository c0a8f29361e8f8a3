"""scikit-learn's bundled digits as an ImageDataset."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from siamkit.data import load_digits_dataset, normalize_batch


def test_shapes_classes_and_preprocessing():
    dataset = load_digits_dataset()
    assert dataset.images.shape == (1797, 1, 28, 28) and dataset.images.dtype == torch.uint8
    assert dataset.class_names == [str(digit) for digit in range(10)]
    assert dataset.class_counts().min() >= 170
    assert dataset.images.max() == 255 and dataset.images.min() == 0
    assert dataset.preprocessing.image_size == (28, 28) and dataset.preprocessing.channels == 1
    batch = normalize_batch(dataset.images[:4], dataset.preprocessing)
    assert batch.min() >= 0 and batch.max() <= 1  # mean 0, std 1: background stays 0


def test_native_size_is_the_exact_rescaled_digits():
    dataset = load_digits_dataset(image_size=(8, 8))
    raw = load_digits()
    expected = torch.as_tensor(raw.images * 255 / 16).round().to(torch.uint8)
    assert torch.equal(dataset.images[:, 0], expected)
    assert torch.equal(dataset.labels, torch.as_tensor(raw.target))


def test_upsampling_keeps_the_picture():
    small = load_digits_dataset(image_size=(8, 8)).images.float()
    large = load_digits_dataset(image_size=(32, 24)).images.float()
    assert large.shape[-2:] == (32, 24)
    shrunk = torch.nn.functional.adaptive_avg_pool2d(large, (8, 8))
    assert (shrunk - small).abs().mean() < 25  # same digit, blurred a little by the round trip
