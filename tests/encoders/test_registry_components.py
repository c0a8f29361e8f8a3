"""Every registered encoder through shape, gradient and save/reload checks; weight sharing in the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import siamkit
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import ENCODERS, EncoderConfig, create_encoder
from siamkit.network import SiameseConfig, SiameseNetwork

EMBEDDING_DIM = 16

# A small input shape and options per encoder so that each runs in a fraction of a second; a newly
# registered encoder needs an entry (see the first test).
ENCODER_CASES: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {
    "mlp": ((12,), {"hidden_dims": [16]}),
    "conv4": ((1, 16, 16), {"width": 8}),
    "koch": ((1, 72, 72), {"width_multiplier": 0.25}),
    "signet": ((1, 64, 96), {"width_multiplier": 0.25}),
    "resnet": ((3, 16, 20), {"widths": [8, 16]}),
    "dlib_face_resnet": ((3, 103, 103), {}),
    "ensemble": (
        (3, 16, 20),
        {
            "members": [
                # GeM pooling in a member, so the generic tests also run the resnet's other pooling
                {
                    "name": "resnet",
                    "input_shape": [3, 16, 20],
                    "embedding_dim": 10,
                    "options": {"widths": [8, 16], "pooling": "generalized_mean"},
                },
                {"name": "conv4", "input_shape": [3, 16, 20], "embedding_dim": 6, "options": {"width": 8}},
            ]
        },
    ),
    "test_time_views": (
        (3, 16, 20),
        {
            "encoder": {"name": "conv4", "input_shape": [3, 16, 20], "embedding_dim": 16, "options": {"width": 8}},
            "views": 3,
            "augmentation": {"enabled": True, "probability": 1.0},
        },
    ),
}


def encoder_config(name: str) -> EncoderConfig:
    input_shape, options = ENCODER_CASES[name]
    return EncoderConfig(name, input_shape, EMBEDDING_DIM, options)


def preprocessing_for(input_shape: tuple[int, ...]) -> PreprocessingConfig:
    if len(input_shape) == 1:
        return PreprocessingConfig(kind="vector", vector_length=input_shape[0])
    channels, height, width = input_shape
    return PreprocessingConfig(kind="image", image_size=(height, width), channels=channels)


def raw_inputs(input_shape: tuple[int, ...], count: int) -> torch.Tensor:
    """What `SiameseModel.embed` takes: float vectors, or uint8 images."""
    if len(input_shape) == 1:
        return torch.randn(count, *input_shape)
    return torch.randint(0, 256, (count, *input_shape), dtype=torch.uint8)


def test_every_registered_encoder_has_a_test_case() -> None:
    assert set(ENCODERS.names()) == set(ENCODER_CASES)


@pytest.mark.parametrize("name", ENCODERS.names())
def test_output_shape_and_finite_values(name) -> None:
    config = encoder_config(name)
    encoder = create_encoder(config)
    outputs = encoder(torch.rand(3, *config.input_shape))
    assert outputs.shape == (3, EMBEDDING_DIM) and outputs.dtype == torch.float32
    assert torch.isfinite(outputs).all()


@pytest.mark.parametrize("name", ENCODERS.names())
def test_backward_gives_finite_gradients_on_every_parameter(name) -> None:
    config = encoder_config(name)
    encoder = create_encoder(config)
    encoder(torch.rand(4, *config.input_shape)).square().sum().backward()
    gradients = [parameter.grad for parameter in encoder.parameters()]
    assert gradients and all(gradient is not None and torch.isfinite(gradient).all() for gradient in gradients)
    assert sum(float(gradient.abs().sum()) for gradient in gradients if gradient is not None) > 0


@pytest.mark.parametrize("name", ENCODERS.names())
def test_save_and_reload_give_bit_identical_embeddings(name, tmp_path: Path) -> None:
    config = encoder_config(name)
    network = SiameseNetwork.from_config(SiameseConfig(encoder=config))
    # A training step's worth of forward passes moves batch-norm statistics away from their initial values.
    network.train()
    network.embed(torch.rand(4, *config.input_shape))
    model = siamkit.SiameseModel(network, preprocessing_for(config.input_shape))
    inputs = raw_inputs(config.input_shape, 3)
    before = model.embed(inputs)
    model.save(tmp_path / "bundle")
    loaded = siamkit.load(tmp_path / "bundle")
    assert torch.equal(loaded.embed(inputs), before)
    assert loaded.fingerprint == model.fingerprint


def test_bad_encoder_options_are_config_errors() -> None:
    with pytest.raises(siamkit.ConfigError, match="koch"):
        create_encoder(EncoderConfig("koch", (1, 32, 32), EMBEDDING_DIM))
    with pytest.raises(siamkit.ConfigError, match="unknown encoder"):
        create_encoder(EncoderConfig("vgg", (1, 32, 32), EMBEDDING_DIM))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"embedding_dim": "128"}, "encoder embedding_dim must be a whole number, got '128'"),
        ({"embedding_dim": 2.5}, "encoder embedding_dim must be a whole number"),
        ({"embedding_dim": True}, "encoder embedding_dim must be a whole number"),
        ({"input_shape": [1, "40", 40]}, "encoder input_shape must be a list of whole numbers"),
        ({"input_shape": "1x40x40"}, "encoder input_shape must be a list of whole numbers"),
        ({"name": 4}, "encoder name must be a string"),
        ({"options": ["widths"]}, "encoder options must be an object"),
    ],
)
def test_encoder_config_from_json_refuses_mistyped_fields_by_name(change: dict[str, Any], message: str) -> None:
    data = {**EncoderConfig("conv4", (1, 40, 40), EMBEDDING_DIM).to_dict(), **change}
    with pytest.raises(siamkit.ConfigError, match=message):
        EncoderConfig.from_dict(data)
    with pytest.raises(siamkit.ConfigError, match="missing input_shape, embedding_dim"):
        EncoderConfig.from_dict({"name": "conv4"})
    with pytest.raises(siamkit.ConfigError, match="must be an object"):
        EncoderConfig.from_dict(["conv4"])  # type: ignore[arg-type]
    assert EncoderConfig.from_dict(EncoderConfig("conv4", (1, 40, 40), EMBEDDING_DIM).to_dict()) == EncoderConfig(
        "conv4", (1, 40, 40), EMBEDDING_DIM
    )


# An ensemble's members (and the views' inner encoder) fix the input size in their own configs, and each checks
# it as above.
@pytest.mark.parametrize(
    "name",
    [
        name
        for name in ENCODERS.names()
        if len(ENCODER_CASES[name][0]) == 3 and name not in ("ensemble", "test_time_views")
    ],
)
def test_image_encoders_refuse_every_size_they_cannot_process(name) -> None:
    """The smallest square size an encoder accepts must work; every smaller one must be a ConfigError."""
    channels = ENCODER_CASES[name][0][0]
    options = ENCODER_CASES[name][1]
    for side in range(1, 129):
        try:
            encoder = create_encoder(EncoderConfig(name, (channels, side, side), EMBEDDING_DIM, options))
        except siamkit.ConfigError:
            continue
        assert encoder(torch.rand(2, channels, side, side)).shape == (2, EMBEDDING_DIM)
        return
    pytest.fail(f"{name} accepts no square input up to 128 pixels")


def mlp_network(shared_weights: bool) -> SiameseNetwork:
    encoder = EncoderConfig("mlp", (6,), 4, {"hidden_dims": [8]})
    return SiameseNetwork.from_config(SiameseConfig(encoder=encoder, shared_weights=shared_weights))


def gradients(output: torch.Tensor, parameters: list[torch.nn.Parameter]) -> list[torch.Tensor | None]:
    return list(torch.autograd.grad(output, parameters, allow_unused=True, retain_graph=True))


def test_shared_weights_are_one_parameter_set_trained_by_both_branches() -> None:
    network = mlp_network(shared_weights=True)
    assert network.second_encoder is None and not network.is_half_twin
    encoder_parameters = list(network.encoder.parameters())
    assert {id(p) for p in network.parameters()} == {id(p) for p in encoder_parameters}  # euclidean has none
    first, second = torch.randn(3, 6), torch.randn(3, 6)
    assert torch.equal(network.embed(first, branch=0), network.embed(first, branch=1))
    from_first = gradients(network.embed(first, branch=0).square().sum(), encoder_parameters)
    from_second = gradients(network.embed(second, branch=1).square().sum(), encoder_parameters)
    for gradient in (*from_first, *from_second):
        assert gradient is not None and gradient.abs().sum() > 0
    # In the joint forward pass, each half of the batch alone still reaches the one encoder.
    embeddings: list[torch.Tensor] = []
    handle = network.encoder.register_forward_hook(lambda module, inputs, output: embeddings.append(output))
    network(first, second)
    handle.remove()
    first_half, second_half = embeddings[0].split(3)
    for half in (first_half, second_half):
        assert all(g is not None and g.abs().sum() > 0 for g in gradients(half.square().sum(), encoder_parameters))


def test_half_twin_has_two_parameter_sets_trained_separately() -> None:
    network = mlp_network(shared_weights=False)
    assert network.second_encoder is not None and network.is_half_twin
    first_parameters = list(network.encoder.parameters())
    second_parameters = list(network.second_encoder.parameters())
    assert not {id(p) for p in first_parameters} & {id(p) for p in second_parameters}
    inputs = torch.randn(3, 6)
    assert not torch.equal(network.embed(inputs, branch=0), network.embed(inputs, branch=1))
    second_branch_loss = network.embed(inputs, branch=1).square().sum()
    assert all(gradient is None for gradient in gradients(second_branch_loss, first_parameters))
    assert all(gradient is not None for gradient in gradients(second_branch_loss, second_parameters))
    first_branch_loss = network.embed(inputs, branch=0).square().sum()
    assert all(gradient is None for gradient in gradients(first_branch_loss, second_parameters))
    assert all(gradient is not None for gradient in gradients(first_branch_loss, first_parameters))


@pytest.mark.parametrize("name", ENCODERS.names())
def test_onnx_export_embeds_as_pytorch_does_at_any_batch_size(name, tmp_path: Path) -> None:
    from siamkit.export import OnnxModel, export_onnx

    config = encoder_config(name)
    network = SiameseNetwork.from_config(SiameseConfig(encoder=config, normalize_embeddings=name == "conv4"))
    network.train()
    network.embed(torch.rand(4, *config.input_shape))  # batch-norm statistics away from their initial values
    model = siamkit.SiameseModel(network, preprocessing_for(config.input_shape))
    export = export_onnx(model, tmp_path / "export")
    exported = OnnxModel(tmp_path / "export")
    for count in (1, 7):
        inputs = raw_inputs(config.input_shape, count)
        expected = model.embed(inputs).numpy()
        actual = exported.embed(inputs.numpy())
        assert actual.shape == expected.shape
        assert abs(actual - expected).max() <= 1e-4 * max(1.0, abs(expected).max())
    assert export.max_abs_differences["encoder"] <= 1e-3
