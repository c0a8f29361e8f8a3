"""Starting a training run from a saved bundle's weights (fine-tuning)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from siamkit.bundle import save_bundle
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.training.config import TrainConfig
from siamkit.training.initial_weights import load_initial_weights
from siamkit.training.recipe import DataSpec, TrainingRecipe, run_recipe

from .conftest import small_network

PREPROCESSING = PreprocessingConfig(image_size=(16, 16))


def saved(network: SiameseNetwork, folder: Path) -> Path:
    save_bundle(folder, network, PREPROCESSING)
    return folder


def encoder_tensors(network: SiameseNetwork) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in network.state_dict().items() if name.startswith("encoder.")}


def test_every_encoder_tensor_is_copied(tmp_path: Path) -> None:
    source = saved(small_network(seed=1), tmp_path / "source")
    network = small_network(seed=2)
    before = encoder_tensors(network)
    left_fresh = load_initial_weights(network, source)
    after = encoder_tensors(network)
    expected = encoder_tensors(small_network(seed=1))
    assert left_fresh == []
    assert any(not torch.equal(before[name], after[name]) for name in after)
    assert all(torch.equal(after[name], expected[name]) for name in expected)


def test_a_learned_head_of_another_size_stays_fresh(tmp_path: Path) -> None:
    def with_head(hidden: list[int], seed: int) -> SiameseNetwork:
        torch.manual_seed(seed)
        encoder = EncoderConfig("conv4", (1, 16, 16), 16, {"width": 8})
        return SiameseNetwork.from_config(
            SiameseConfig(encoder, ComparisonConfig("learned_head", {"hidden_dims": hidden}))
        )

    source = saved(with_head([8], seed=1), tmp_path / "source")
    network = with_head([4], seed=2)
    head_before = {n: t.clone() for n, t in network.state_dict().items() if n.startswith("comparison.")}
    left_fresh = load_initial_weights(network, source)
    assert left_fresh and all(name.startswith("comparison.") for name in left_fresh)
    assert all(torch.equal(network.state_dict()[name], head_before[name]) for name in left_fresh)
    expected = encoder_tensors(with_head([8], seed=1))
    assert all(torch.equal(encoder_tensors(network)[name], expected[name]) for name in expected)


def test_a_half_twin_starts_both_encoders_from_a_shared_one(tmp_path: Path) -> None:
    source = saved(small_network(seed=1), tmp_path / "source")
    torch.manual_seed(2)
    encoder = EncoderConfig("conv4", (1, 16, 16), 16, {"width": 8})
    network = SiameseNetwork.from_config(SiameseConfig(encoder, ComparisonConfig("euclidean"), shared_weights=False))
    load_initial_weights(network, source)
    state = network.state_dict()
    for name, tensor in encoder_tensors(small_network(seed=1)).items():
        assert torch.equal(state[name], tensor)
        assert torch.equal(state["second_" + name], tensor)


def test_another_encoder_is_refused_in_one_line(tmp_path: Path) -> None:
    source = saved(small_network(seed=1), tmp_path / "source")
    torch.manual_seed(0)
    wider = SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("conv4", (1, 16, 16), 16, {"width": 12}), ComparisonConfig("euclidean"))
    )
    with pytest.raises(ConfigError, match=r"training\.initial_weights: .*shape") as error:
        load_initial_weights(wider, source)
    assert "\n" not in str(error.value)


def test_a_missing_or_altered_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"training\.initial_weights: .*nowhere"):
        load_initial_weights(small_network(), tmp_path / "nowhere")
    source = saved(small_network(seed=1), tmp_path / "source")
    config = json.loads((source / "config.json").read_text())
    config["fingerprint"] = "0" * 64
    (source / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="fingerprint"):
        load_initial_weights(small_network(), source)


def test_a_recipe_with_initial_weights_trains_from_them(tmp_path: Path) -> None:
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for label in range(4):
        (tmp_path / "data" / f"c{label}").mkdir(parents=True)
        for index in range(4):
            pixels = (torch.rand(16, 16, generator=generator) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(tmp_path / "data" / f"c{label}" / f"{index}.png")
    source = saved(small_network(seed=1), tmp_path / "source")
    network_config = small_network().config
    assert network_config is not None
    # A learning rate of almost zero: the trained weights must still be the starting bundle's.
    training = TrainConfig(
        output_dir=tmp_path / "run", max_steps=1, classes_per_batch=4, samples_per_class=2, learning_rate=1e-12,
        weight_decay=0.0, show_progress=False, device="cpu", initial_weights=source, early_stopping_patience=None,
    )  # fmt: skip
    recipe = TrainingRecipe(DataSpec(train=str(tmp_path / "data")), network_config, PREPROCESSING, training)
    again = TrainingRecipe.from_dict(json.loads(json.dumps(recipe.to_dict())))
    assert again.training.initial_weights == source
    result = run_recipe(again)
    expected = encoder_tensors(small_network(seed=1))
    trained = encoder_tensors(result.model.network)
    weights = [name for name in expected if not name.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert weights and all(torch.allclose(trained[name], expected[name], atol=1e-6) for name in weights)
