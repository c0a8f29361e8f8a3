"""8-bit ONNX encoders: calibrated on the user's images, checked for drift, smaller, tied to their manifest, and
usable wherever a float32 export is (OnnxModel, `use_onnx_export`, `siamkit evaluate --onnx`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import siamkit
from siamkit.cli import app
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import BundleError, ConfigError, DataError
from siamkit.export import OnnxModel, QuantizationConfig, QuantizationError, export_onnx
from siamkit.export.quantization import _drift
from siamkit.network import SiameseConfig, SiameseNetwork

PREPROCESSING = PreprocessingConfig(image_size=(24, 24), channels=1, invert=True)


def calibrated_model(seed: int = 0) -> siamkit.SiameseModel:
    """A resnet with a threshold: convolutions and a linear layer, the operators quantisation rewrites."""
    torch.manual_seed(seed)
    network = SiameseNetwork.from_config(
        SiameseConfig(
            encoder=EncoderConfig("resnet", PREPROCESSING.input_shape, 16, {"widths": [32, 64]}),
            comparison=ComparisonConfig("euclidean", {}),
            normalize_embeddings=True,
        )
    )
    network.train()
    network.embed(torch.rand(8, *PREPROCESSING.input_shape))  # batch-norm statistics off their defaults
    return siamkit.SiameseModel(network, PREPROCESSING, threshold=0.8)


def write_classes(root: Path, classes: int, per_class: int, seed: int) -> Path:
    """Class folders of blocky grey patterns (each class a prototype plus noise), as PNGs of mixed sizes."""
    generator = np.random.default_rng(seed)
    for label in range(classes):
        prototype = np.kron(generator.integers(0, 256, size=(6, 6)), np.ones((5, 5)))
        (root / f"class{label}").mkdir(parents=True)
        for index in range(per_class):
            pixels = np.clip(prototype + generator.normal(0, 25, size=prototype.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class{label}" / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One bundle, its float32 and its int8 export (calibrated on other images than those it is checked on)."""
    root = tmp_path_factory.mktemp("quantization")
    model = calibrated_model()
    model.save(root / "bundle")
    calibration = write_classes(root / "calibration", classes=6, per_class=8, seed=1)
    export_onnx(model, root / "float32")
    export_onnx(model, root / "int8", quantization=QuantizationConfig(calibration, max_images=48))
    return {
        "root": root,
        "bundle": root / "bundle",
        "calibration": calibration,
        "float32": root / "float32",
        "int8": root / "int8",
        "evaluation": write_classes(root / "evaluation", classes=4, per_class=5, seed=2),
    }


def test_drift_is_the_cosine_and_relative_error_of_each_pair_of_embeddings() -> None:
    expected = np.array([[3.0, 4.0], [1.0, 0.0]])
    actual = np.array([[3.0, 4.0], [1.0, 1.0]])
    check = _drift(expected, actual, n_calibration=7)
    # second row: cosine 1/sqrt(2), error |(0, 1)| / |(1, 0)| = 1
    assert check.worst_cosine == pytest.approx(1 / np.sqrt(2))
    assert check.mean_cosine == pytest.approx((1 + 1 / np.sqrt(2)) / 2)
    assert check.mean_relative_error == pytest.approx(0.5)
    assert (check.n_calibration_images, check.n_check_images) == (7, 2)


def test_the_int8_encoder_is_smaller_and_embeds_close_to_pytorch(workspace: dict[str, Path]) -> None:
    float_size = (workspace["float32"] / "encoder.onnx").stat().st_size
    int8_size = (workspace["int8"] / "encoder.onnx").stat().st_size
    assert int8_size < 0.5 * float_size
    model = siamkit.load(workspace["bundle"])
    exported = OnnxModel(workspace["int8"])
    assert exported.is_quantized and not OnnxModel(workspace["float32"]).is_quantized
    images = sorted(workspace["evaluation"].rglob("*.png"))
    expected = model.embed(images).numpy()
    actual = exported.embed(images)
    cosines = np.sum(expected * actual, axis=1) / np.linalg.norm(expected, axis=1) / np.linalg.norm(actual, axis=1)
    assert cosines.min() > 0.98
    assert not np.allclose(actual, expected, atol=1e-4)  # it is 8-bit: not the float32 graph under another name


def test_the_manifest_says_what_was_quantised_on_what_and_how_far_it_drifts(workspace: dict[str, Path]) -> None:
    manifest = json.loads((workspace["int8"] / "siamkit-onnx.json").read_text())
    entry = manifest["graphs"]["encoder"]["quantization"]
    assert entry["calibration_data"] == str(workspace["calibration"])
    # 48 images drawn: every third checks the drift, the rest set the activation ranges
    assert (entry["check"]["n_calibration_images"], entry["check"]["n_check_images"]) == (32, 16)
    assert 0.98 <= entry["check"]["worst_cosine"] <= entry["check"]["mean_cosine"] <= 1.0
    assert manifest["quantization"] == {"encoder": entry["type"]}
    assert "quantization" not in manifest["graphs"]["comparison"]  # the comparison stays float32
    float_manifest = json.loads((workspace["float32"] / "siamkit-onnx.json").read_text())
    assert float_manifest["quantization"] is None
    assert all(len(graph["sha256"]) == 64 for graph in manifest["graphs"].values())


def test_a_model_uses_its_int8_export_and_decides_with_its_own_threshold(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    model = siamkit.load(workspace["bundle"])
    images = sorted(workspace["evaluation"].rglob("*.png"))
    before = model.verify(images[0], images[1])
    model.use_onnx_export(workspace["int8"], threads=1)
    assert model.onnx_export is not None and model.onnx_export.is_quantized
    after = model.verify(images[0], images[1])
    assert after.threshold == before.threshold == 0.8
    assert after.score == pytest.approx(before.score, abs=0.1) and after.score != before.score

    # Without a recorded digest, nothing ties an 8-bit graph to the bundle: refused.
    copy = tmp_path / "copy"
    shutil.copytree(workspace["int8"], copy)
    manifest = json.loads((copy / "siamkit-onnx.json").read_text())
    del manifest["graphs"]["encoder"]["sha256"]
    (copy / "siamkit-onnx.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"copy/encoder\.onnx: the manifest holds no sha256 for this int8 graph"):
        OnnxModel(copy)


def test_an_int8_graph_replaced_after_the_export_is_refused(workspace: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(workspace["int8"], copy)
    shutil.copyfile(workspace["float32"] / "encoder.onnx", copy / "encoder.onnx")
    with pytest.raises(BundleError, match=r"encoder\.onnx: changed since it was exported"):
        siamkit.load(workspace["bundle"]).use_onnx_export(copy)


def test_an_encoder_that_drifts_too_far_is_refused_and_nothing_is_written(workspace: dict[str, Path]) -> None:
    target = workspace["root"] / "strict"
    strict = QuantizationConfig(workspace["calibration"], max_images=24, min_cosine=1.0)
    with pytest.raises(QuantizationError, match=r"the int8 encoder drifts too far from float32: worst cosine 0\.9"):
        export_onnx(siamkit.load(workspace["bundle"]), target, quantization=strict)
    assert not target.exists()


def test_calibration_data_that_cannot_serve_is_refused_before_exporting(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    model = siamkit.load(workspace["bundle"])
    few = write_classes(tmp_path / "few", classes=2, per_class=3, seed=3)
    with pytest.raises(ConfigError, match=r"few: 6 image\(s\); int8 calibration needs at least 8"):
        export_onnx(model, tmp_path / "out", quantization=QuantizationConfig(few))
    with pytest.raises(DataError, match="absent"):
        export_onnx(model, tmp_path / "out", quantization=QuantizationConfig(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="max_images must be at least 8, got 4"):
        QuantizationConfig(few, max_images=4)
    with pytest.raises(ConfigError, match=r"min_cosine must be in \(0, 1\], got 1.5"):
        QuantizationConfig(few, min_cosine=1.5)
    vectors = siamkit.SiameseModel(
        SiameseNetwork.from_config(
            SiameseConfig(encoder=EncoderConfig("mlp", (6,), 4, {}), comparison=ComparisonConfig("euclidean", {}))
        ),
        PreprocessingConfig(kind="vector", vector_length=6),
    )
    with pytest.raises(ConfigError, match="int8 quantisation needs an image model; this bundle reads vectors"):
        export_onnx(vectors, tmp_path / "out", quantization=QuantizationConfig(few))
    assert not (tmp_path / "out").exists()


runner = CliRunner()


def test_evaluate_through_an_export_scores_as_the_bundle_does(workspace: dict[str, Path]) -> None:
    common = ["evaluate", "--model", str(workspace["bundle"]), "--data", str(workspace["evaluation"]), "--json"]
    common += ["--ways", "3", "--episodes", "20"]
    results = {}
    for name, extra in (("pytorch", []), ("float32", ["--onnx", str(workspace["float32"])])):
        invoked = runner.invoke(app, [*common, *extra])
        assert invoked.exit_code == 0, invoked.output
        results[name] = json.loads(invoked.output)
    for key in ("eer", "auc", "accuracy", "n_same", "n_different"):
        assert results["float32"][key] == pytest.approx(results["pytorch"][key], abs=1e-6)
    assert results["float32"]["one_shot"]["accuracy"] == pytest.approx(results["pytorch"]["one_shot"]["accuracy"])
    int8 = runner.invoke(app, [*common, "--onnx", str(workspace["int8"])])
    assert int8.exit_code == 0, int8.output
    assert json.loads(int8.output)["n_same"] == results["pytorch"]["n_same"]


def test_the_cli_exports_int8_and_prints_the_drift(workspace: dict[str, Path], tmp_path: Path) -> None:
    arguments = ["export", "--model", str(workspace["bundle"]), "--output", str(tmp_path / "cli-int8")]
    invoked = runner.invoke(
        app, [*arguments, "--int8-calibration", str(workspace["calibration"]), "--calibration-images", "24", "--json"]
    )
    assert invoked.exit_code == 0, invoked.output
    summary = json.loads(invoked.output)
    assert set(summary["int8"]) == {"encoder"} and summary["int8"]["encoder"]["n_check_images"] == 8
    text = runner.invoke(
        app, [*arguments, "--int8-calibration", str(workspace["calibration"]), "--calibration-images", "24"]
    )
    assert text.exit_code == 0 and "int8; cosine to float32 at least " in text.output


def test_one_shot_runs_needs_one_export_per_model(workspace: dict[str, Path], tmp_path: Path) -> None:
    bundle, export = str(workspace["bundle"]), str(workspace["float32"])
    invoked = runner.invoke(
        app, ["one-shot-runs", "--model", bundle, "--model", bundle, "--onnx", export, "--runs", str(tmp_path)]
    )
    assert invoked.exit_code != 0
    assert isinstance(invoked.exception, ConfigError)
    assert str(invoked.exception) == "--onnx was given 1 time(s) for 2 --model(s); give one each"


@pytest.mark.parametrize(
    ("option", "value"), [("--calibration-images", "3"), ("--min-cosine", "1.5"), ("--min-cosine", "-0.2")]
)
def test_the_cli_names_the_option_out_of_range_and_writes_nothing(
    workspace: dict[str, Path], tmp_path: Path, option: str, value: str
) -> None:
    output = tmp_path / "refused"
    arguments = ["export", "--model", str(workspace["bundle"]), "--output", str(output)]
    invoked = runner.invoke(app, [*arguments, "--int8-calibration", str(workspace["calibration"]), option, value])
    assert invoked.exit_code == 2
    assert f"Invalid value for '{option}'" in invoked.output
    assert not output.exists()
