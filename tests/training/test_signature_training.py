"""Signatures end to end on a tiny synthetic collection: train (forgeries as hard negatives) -> calibrate ->
evaluate (SigNet protocol) -> verify, through the same functions and commands a user runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from typer.testing import CliRunner

import siamkit
from siamkit.cli import app
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.data.signature_folder import SignatureDataset, load_signature_folder
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError
from siamkit.evaluation.dataset_evaluation import calibrate_bundle, evaluate_folder
from siamkit.network import SiameseConfig
from siamkit.training.config import TrainConfig
from siamkit.training.distributed import DistributedContext
from siamkit.training.recipe import DataSpec, TrainingRecipe, load_training_data, run_recipe
from siamkit.training.signature_batches import SignatureBatches
from siamkit.training.trainer import make_batch_source

WRITERS, GENUINE, FORGERIES = 4, 4, 3
PREPROCESSING = PreprocessingConfig(
    image_size=(32, 48), invert=True, crop_to_ink=True, keep_aspect=True, remove_background=True
)


def draw_signature(points: np.ndarray, paper: int, path: Path) -> None:
    """A dark polyline on a page of grey level `paper`, with a margin around it."""
    image = Image.new("L", (90, 60), paper)
    ImageDraw.Draw(image).line([tuple(point) for point in points.tolist()], fill=30, width=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


@pytest.fixture(scope="module")
def signature_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CEDAR's layout: per writer a stroke shape; genuine = small jitter on grey paper, forgeries = larger
    distortions on white paper (as CEDAR's scans differ)."""
    root = tmp_path_factory.mktemp("signatures") / "cedar"
    generator = np.random.default_rng(0)
    for writer in range(1, WRITERS + 1):
        shape = np.stack([np.linspace(10, 80, 8), generator.uniform(10, 50, 8)], axis=1)
        for number in range(1, GENUINE + 1):
            points = shape + generator.normal(0, 1.0, shape.shape)
            draw_signature(points, 235, root / str(writer) / f"original_{writer}_{number}.png")
        for number in range(1, FORGERIES + 1):
            points = shape + generator.normal(0, 6.0, shape.shape)
            draw_signature(points, 255, root / str(writer) / f"forgeries_{writer}_{number}.png")
    return root


def tiny_recipe(data: Path, output: Path) -> TrainingRecipe:
    return TrainingRecipe(
        data=DataSpec(train=str(data), kind="signatures"),
        network=SiameseConfig(
            encoder=EncoderConfig("conv4", PREPROCESSING.input_shape, 16, {"width": 8}),
            comparison=ComparisonConfig("euclidean"),
            normalize_embeddings=True,
        ),
        preprocessing=PREPROCESSING,
        training=TrainConfig(
            output_dir=output, epochs=3, classes_per_batch=2, samples_per_class=2, device="cpu",
            show_progress=False, early_stopping_patience=None,
        ),
    )  # fmt: skip


def test_signature_data_get_writer_batches_with_forgeries(signature_folder: Path) -> None:
    dataset = load_signature_folder(signature_folder, PREPROCESSING)
    config = TrainConfig(classes_per_batch=2, samples_per_class=2)
    source = make_batch_source(dataset, config, DistributedContext())
    assert isinstance(source, SignatureBatches)
    for batch in source:
        assert batch.labels is not None
        assert dataset.genuine[batch.input_indices].tolist() == [True, True, False, False] * 2
        assert torch.equal(batch.labels, dataset.writers[batch.input_indices])


def test_train_calibrate_evaluate_verify(signature_folder: Path, tmp_path: Path) -> None:
    result = run_recipe(tiny_recipe(signature_folder, tmp_path / "run"))
    bundle = result.bundle_path
    assert bundle is not None and (bundle / "model.safetensors").is_file()
    assert result.steps == 3 * 4  # an epoch: 16 genuine signatures / (2 writers x 2 genuine) = 4 batches

    command = ["calibrate", "--model", str(bundle), "--data", str(signature_folder), "--target-far", "0.1"]
    by_command = CliRunner().invoke(app, [*command, "--protocol", "signatures", "--json"])
    assert by_command.exit_code == 0, by_command.output
    assert json.loads(by_command.output)["n_different"] == WRITERS * GENUINE * FORGERIES

    calibration = calibrate_bundle(bundle, signature_folder, target_far=None, protocol="signatures")
    assert calibration["protocol"] == "signatures"
    assert calibration["n_same"] == WRITERS * GENUINE * (GENUINE - 1) // 2
    assert calibration["n_different"] == WRITERS * GENUINE * FORGERIES

    model = siamkit.load(bundle)
    assert model.threshold == pytest.approx(calibration["threshold"])
    assert model.calibration is not None
    report = evaluate_folder(model, signature_folder, protocol="signatures", ways=0)
    assert report["threshold_source"] == "bundle"
    assert (report["n_same"], report["n_different"]) == (24, 48)
    assert 0.0 <= report["eer"] <= 1.0 and 0.0 <= report["auc"] <= 1.0

    first = signature_folder / "1" / "original_1_1.png"
    second = signature_folder / "1" / "forgeries_1_1.png"
    verdict = model.verify(first, second)
    assert verdict.threshold == pytest.approx(calibration["threshold"])
    assert verdict.probability is not None and 0.0 <= verdict.probability <= 1.0
    output = CliRunner().invoke(app, ["verify", "--model", str(bundle), str(first), str(second), "--json"])
    assert output.exit_code == 0, output.output
    printed = json.loads(output.output)
    assert printed["same"] == verdict.same and printed["score"] == pytest.approx(verdict.score, rel=1e-5)


def test_mirrored_writers_are_new_writers_with_their_own_forgeries(signature_folder: Path, tmp_path: Path) -> None:
    spec = DataSpec(train=str(signature_folder), kind="signatures", class_transforms=["identity", "flip", "rotate180"])
    data, _ = load_training_data(spec, PREPROCESSING)
    plain = load_signature_folder(signature_folder, PREPROCESSING)
    count = len(plain.paths)
    assert isinstance(data, SignatureDataset) and data.num_writers == 3 * WRITERS and len(data.paths) == 3 * count
    assert torch.equal(data.images[count : 2 * count], plain.images.flip(-1))
    assert torch.equal(data.images[2 * count :], plain.images.flip(-1).flip(-2))
    assert torch.equal(data.genuine, plain.genuine.repeat(3))
    assert torch.equal(data.writers[count : 2 * count], plain.writers + WRITERS)
    # Genuine signatures are labelled by writer; every forgery, mirrored or not, is a class of its own.
    assert torch.equal(data.labels[data.genuine], data.writers[data.genuine])
    forgery_labels = data.labels[~data.genuine]
    assert forgery_labels.unique().numel() == forgery_labels.numel() and int(forgery_labels.min()) >= data.num_writers
    first_forgery = int(torch.nonzero(~plain.genuine)[0])
    mirrored = data.class_names[int(data.labels[count + first_forgery])]
    assert mirrored == plain.class_names[int(plain.labels[first_forgery])] + "/flip"
    # Batches keep a writer's own (mirrored) forgeries as its negatives, and the recipe trains on them.
    source = make_batch_source(data, TrainConfig(classes_per_batch=2, samples_per_class=2), DistributedContext())
    for batch in source:
        assert batch.labels is not None and torch.equal(batch.labels, data.writers[batch.input_indices])
    recipe = tiny_recipe(signature_folder, tmp_path / "run")
    recipe.data = spec
    result = run_recipe(recipe)
    assert result.bundle_path is not None and (result.bundle_path / "model.safetensors").is_file()


def test_signatures_refuse_quarter_turns_of_oblong_images(signature_folder: Path) -> None:
    spec = DataSpec(train=str(signature_folder), kind="signatures", class_transforms=["identity", "rotate90"])
    with pytest.raises(ConfigError, match="square images"):
        load_training_data(spec, PREPROCESSING)


@pytest.mark.parametrize(("loss", "mining"), [("contrastive", "multi_similarity"), ("multi_similarity", "all")])
def test_multi_similarity_mining_and_loss_train_on_signatures(
    signature_folder: Path, tmp_path: Path, loss: str, mining: str
) -> None:
    recipe = tiny_recipe(signature_folder, tmp_path / "run")
    recipe.training.loss, recipe.training.mining = loss, mining
    result = run_recipe(recipe)
    assert result.bundle_path is not None and result.steps == 3 * 4
    losses = [record["loss"] for record in result.history if "loss" in record]
    assert losses and all(np.isfinite(losses))
