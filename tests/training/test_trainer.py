"""The training loop: learning, determinism, exact resume, data kinds, early stopping, bad configs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

import siamkit
from siamkit.data.pairs_csv import PairDataset, TripletDataset
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.data.vectors import VectorDataset
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.training import trainer as trainer_module
from siamkit.training.config import TrainConfig
from siamkit.training.trainer import train

from .conftest import pattern_dataset, small_network


def weights(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in network.state_dict().items()}


def train_until_killed(
    network: SiameseNetwork, data: object, config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trains until the 6th step raises KeyboardInterrupt (after the checkpoint at step 4 when
    `checkpoint_every_steps` is 2, mid-epoch), then restores the real training step."""
    real_step = trainer_module.training_step
    calls = {"count": 0}

    def dying_step(*args: object, **kwargs: object) -> float:
        calls["count"] += 1
        if calls["count"] == 6:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trainer_module, "training_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(network, data, config)  # type: ignore[arg-type]
    monkeypatch.setattr(trainer_module, "training_step", real_step)


def test_training_lowers_the_loss_and_writes_a_reloadable_bundle(quick_config: TrainConfig) -> None:
    data = pattern_dataset()
    validation = pattern_dataset(seed=1)
    config = dataclasses.replace(quick_config, epochs=6)
    result = train(small_network(), data, config, validation_data=validation)
    losses = [record["loss"] for record in result.history if "loss" in record]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert result.bundle_path is not None and (result.bundle_path / "model.safetensors").is_file()
    assert (config.output_dir / "metrics.jsonl").is_file()
    assert (config.output_dir / "plots" / "training_curves.png").is_file()
    assert result.model.threshold is not None
    reloaded = siamkit.load(result.bundle_path)
    assert torch.equal(reloaded.embed(validation.images), result.model.embed(validation.images))
    assert reloaded.metadata["training"]["steps"] == result.steps


def test_same_seed_gives_identical_weights(tmp_path: Path, quick_config: TrainConfig) -> None:
    data = pattern_dataset()
    first = train(small_network(), data, dataclasses.replace(quick_config, output_dir=tmp_path / "a"))
    second = train(small_network(), data, dataclasses.replace(quick_config, output_dir=tmp_path / "b"))
    for name, value in weights(first.model.network).items():
        assert torch.equal(value, weights(second.model.network)[name]), name


def test_resume_after_a_kill_continues_exactly(
    tmp_path: Path, quick_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pattern_dataset()
    augmentation = dataclasses.replace(quick_config.augmentation, enabled=True)
    config = dataclasses.replace(quick_config, augmentation=augmentation, checkpoint_every_steps=2)
    uninterrupted = train(small_network(), data, dataclasses.replace(config, output_dir=tmp_path / "full"))

    killed_config = dataclasses.replace(config, output_dir=tmp_path / "killed")
    train_until_killed(small_network(), data, killed_config, monkeypatch)
    assert not (killed_config.output_dir / "model").exists()  # no half-finished bundle
    resumed = train(small_network(seed=99), data, killed_config, resume=True)

    assert resumed.steps == uninterrupted.steps
    for name, value in weights(uninterrupted.model.network).items():
        assert torch.equal(value, weights(resumed.model.network)[name]), name
    steps_logged = [record["step"] for record in resumed.history if "loss" in record]
    assert steps_logged == sorted(set(steps_logged))  # replayed steps are not logged twice


def test_trains_on_explicit_pairs_and_triplets(quick_config: TrainConfig) -> None:
    data = pattern_dataset(classes=4, per_class=6)
    labels = data.labels
    first, second = torch.triu_indices(len(labels), len(labels), offset=1)
    pairs = PairDataset(
        images=data.images, first_index=first, second_index=second,
        labels=(labels[first] == labels[second]).float(), paths=data.paths, preprocessing=data.preprocessing,
    )  # fmt: skip
    result = train(small_network(), pairs, dataclasses.replace(quick_config, epochs=1, max_steps=4))
    assert result.steps == 4
    anchors = torch.arange(len(labels))
    positives = torch.tensor([(index // 6) * 6 + (index + 1) % 6 for index in range(len(labels))])
    negatives = (anchors + 6) % len(labels)
    triplets = TripletDataset(
        images=data.images, anchor_index=anchors, positive_index=positives, negative_index=negatives,
        paths=data.paths, preprocessing=data.preprocessing,
    )  # fmt: skip
    config = dataclasses.replace(
        quick_config, epochs=1, max_steps=2, loss="triplet", output_dir=quick_config.output_dir / "t"
    )
    assert train(small_network(), triplets, config).steps >= 1


def test_trains_on_vectors_with_an_mlp(quick_config: TrainConfig) -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 8, generator=generator) * 3
    labels = torch.arange(5).repeat_interleave(12)
    vectors = centres[labels] + 0.3 * torch.randn(60, 8, generator=generator)
    data = VectorDataset(vectors=vectors, labels=labels, class_names=[str(i) for i in range(5)])
    network = SiameseNetwork.from_config(SiameseConfig(EncoderConfig("mlp", (8,), 8, {"hidden_dims": [32]})))
    preprocessing = PreprocessingConfig(kind="vector", vector_length=8)
    result = train(network, data, quick_config, validation_data=data, preprocessing=preprocessing)
    assert result.best_validation is not None and result.best_validation["auc"] > 0.9
    verdict = siamkit.load(result.bundle_path).verify(vectors[0].numpy(), vectors[1].numpy())
    assert verdict.same


def test_early_stopping_ends_a_run_that_stops_improving(quick_config: TrainConfig) -> None:
    data = pattern_dataset()
    config = dataclasses.replace(
        quick_config, epochs=20, learning_rate=1e-12, early_stopping_patience=2, early_stopping_metric="auc"
    )
    result = train(small_network(), data, config, validation_data=pattern_dataset(seed=2))
    assert result.stopped_early
    assert result.epochs_completed < 20


def test_learned_head_with_binary_cross_entropy(quick_config: TrainConfig) -> None:
    data = pattern_dataset()
    config = dataclasses.replace(quick_config, loss="binary_cross_entropy")
    result = train(small_network(comparison="learned_head"), data, config, validation_data=pattern_dataset(seed=3))
    assert result.model.higher_is_more_similar
    assert 0.0 <= result.model.threshold <= 1.0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("comparison", "loss"), [("euclidean", "binary_cross_entropy"), ("learned_head", "contrastive")]
)
def test_losses_that_cannot_train_with_a_comparison_are_refused(
    quick_config: TrainConfig, comparison: str, loss: str
) -> None:
    with pytest.raises(ConfigError):
        train(small_network(comparison=comparison), pattern_dataset(), dataclasses.replace(quick_config, loss=loss))


@pytest.mark.parametrize("loss", ["cosface", "arcface"])
def test_class_proxy_losses_train_and_resume_exactly(
    tmp_path: Path, quick_config: TrainConfig, monkeypatch: pytest.MonkeyPatch, loss: str
) -> None:
    data = pattern_dataset()
    config = dataclasses.replace(
        quick_config, loss=loss, loss_options={"scale": 10.0}, loss_learning_rate=1e-2, checkpoint_every_steps=2
    )
    uninterrupted = train(
        small_network(comparison="cosine"), data, dataclasses.replace(config, output_dir=tmp_path / "a")
    )
    losses = [record["loss"] for record in uninterrupted.history if "loss" in record]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert uninterrupted.bundle_path is not None
    assert not any("proxies" in name for name in weights(uninterrupted.model.network))  # not in the model

    killed_config = dataclasses.replace(config, output_dir=tmp_path / "killed")
    train_until_killed(small_network(comparison="cosine"), data, killed_config, monkeypatch)
    torch.manual_seed(123)  # the resumed run's fresh proxies differ; only the checkpoint's may be used
    resumed = train(small_network(comparison="cosine", seed=99), data, killed_config, resume=True)
    for name, value in weights(uninterrupted.model.network).items():
        assert torch.equal(value, weights(resumed.model.network)[name]), name


def test_class_proxies_learn_at_their_own_rate(quick_config: TrainConfig) -> None:
    network = small_network(comparison="cosine")
    loss = trainer_module.build_loss(dataclasses.replace(quick_config, loss="cosface"), network, pattern_dataset())
    assert loss.proxies.shape == (6, 16)  # one per class, as long as the embeddings
    optimizer = trainer_module.build_optimizer(
        network, dataclasses.replace(quick_config, loss_learning_rate=0.05), loss
    )
    proxy_group = optimizer.param_groups[-1]
    assert proxy_group["params"] == [loss.proxies] and proxy_group["lr"] == 0.05
    assert proxy_group["weight_decay"] == 0.0
    assert all(group["lr"] == quick_config.learning_rate for group in optimizer.param_groups[:-1])


def test_class_proxy_losses_refuse_what_they_cannot_train(quick_config: TrainConfig) -> None:
    config = dataclasses.replace(quick_config, loss="cosface")
    with pytest.raises(ConfigError, match="normalize_embeddings"):
        train(small_network(), pattern_dataset(), config)  # Euclidean on raw embeddings
    with pytest.raises(ConfigError, match="mines nothing"):
        train(small_network(comparison="cosine"), pattern_dataset(), dataclasses.replace(config, mining="hard"))
    data = pattern_dataset()
    pairs = PairDataset(
        images=data.images[:4],
        first_index=torch.tensor([0, 1]),
        second_index=torch.tensor([2, 3]),
        labels=torch.tensor([1.0, 0.0]),
        paths=data.paths[:4],
        preprocessing=data.preprocessing,
    )
    with pytest.raises(ConfigError, match="labelled classes"):
        train(small_network(comparison="cosine"), pairs, config)
    with pytest.raises(ConfigError, match="loss_learning_rate must be positive"):
        dataclasses.replace(config, loss_learning_rate=0.0)


def test_multi_similarity_trains_on_angles_and_refuses_raw_euclidean_embeddings(quick_config: TrainConfig) -> None:
    config = dataclasses.replace(quick_config, loss="multi_similarity", loss_options={"base": 0.5})
    result = train(small_network(comparison="cosine"), pattern_dataset(), config)
    losses = [record["loss"] for record in result.history if "loss" in record]
    assert all(math.isfinite(value) for value in losses)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    with pytest.raises(ConfigError, match="shapes the angles between embeddings only"):
        train(small_network(), pattern_dataset(), config)  # Euclidean on raw embeddings
    with pytest.raises(ConfigError, match="mines nothing"):
        train(small_network(comparison="cosine"), pattern_dataset(), dataclasses.replace(config, mining="hard"))
