"""ONNX export end to end: the exported graphs decide as the bundle does, the manifest carries the decision
rule, a failed or mismatching export leaves nothing behind, and bad input is refused in one line."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import siamkit
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import BundleError, ConfigError
from siamkit.export import ExportError, OnnxModel, export_onnx, onnx_export
from siamkit.network import SiameseConfig, SiameseNetwork

PREPROCESSING = PreprocessingConfig(image_size=(16, 16), channels=1, invert=True)


def run_siamkit(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siamkit.cli", *arguments], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def calibrated_model(comparison: str = "euclidean", shared_weights: bool = True) -> siamkit.SiameseModel:
    """A small conv4 model with a threshold and a Platt map, as `siamkit calibrate` leaves one."""
    network = SiameseNetwork.from_config(
        SiameseConfig(
            encoder=EncoderConfig("conv4", PREPROCESSING.input_shape, 8, {"width": 8}),
            comparison=ComparisonConfig(comparison, {"hidden_dims": [4]} if comparison == "learned_head" else {}),
            normalize_embeddings=True,
            shared_weights=shared_weights,
        )
    )
    network.train()
    network.embed(torch.rand(6, *PREPROCESSING.input_shape))  # move batch-norm statistics off their defaults
    higher = network.comparison.higher_is_more_similar
    return siamkit.SiameseModel(
        network,
        PREPROCESSING,
        threshold=0.5 if higher else 0.9,
        calibration={"method": "platt", "slope": 4.0, "intercept": 3.0},
        threshold_provenance={"source": "siamkit calibrate", "method": "eer"},
    )


@pytest.fixture
def pictures(tmp_path: Path) -> list[Path]:
    """Eight grey PNGs of different sizes (so resizing, inversion and decoding all happen before the graph)."""
    generator = np.random.default_rng(0)
    paths = []
    for index in range(8):
        pixels = generator.integers(0, 256, size=(20 + index, 24)).astype(np.uint8)
        path = tmp_path / f"picture{index}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("comparison", ["euclidean", "cosine", "learned_head"])
def test_the_export_verifies_and_ranks_as_the_bundle_does(
    comparison: str, tmp_path: Path, pictures: list[Path]
) -> None:
    model = calibrated_model(comparison)
    model.save(tmp_path / "bundle")
    bundle = siamkit.load(tmp_path / "bundle")
    export_onnx(bundle, tmp_path / "export")
    exported = OnnxModel(tmp_path / "export")
    for first, second in itertools.pairwise(pictures):
        expected, actual = bundle.verify(first, second), exported.verify(first, second)
        assert actual.score == pytest.approx(expected.score, abs=1e-5)
        assert actual.probability == pytest.approx(expected.probability, abs=1e-5)
        assert actual.threshold == expected.threshold
        assert actual.higher_is_more_similar == expected.higher_is_more_similar
        if abs(expected.score - expected.threshold) > 1e-4:  # a tie could fall either way by rounding
            assert actual.same == expected.same
    supports = {f"class{index}": path for index, path in enumerate(pictures[1:])}
    expected_guess = bundle.classify_one_shot(pictures[0], supports)
    actual_guess = exported.classify_one_shot(pictures[0], supports)
    assert actual_guess.label == expected_guess.label
    np.testing.assert_allclose(actual_guess.scores, expected_guess.scores, atol=1e-5)


def test_the_manifest_carries_the_decision_rule_and_where_it_came_from(tmp_path: Path) -> None:
    model = calibrated_model()
    model.save(tmp_path / "bundle")
    result = export_onnx(siamkit.load(tmp_path / "bundle"), tmp_path / "export")
    manifest = json.loads((tmp_path / "export" / "siamkit-onnx.json").read_text())
    assert manifest["source"]["fingerprint"] == model.fingerprint
    assert manifest["decision"]["threshold"] == 0.9
    assert manifest["decision"]["same_when"] == "score <= threshold"
    assert manifest["decision"]["calibration"] == model.calibration
    assert manifest["decision"]["provenance"]["source"] == "siamkit calibrate"
    assert manifest["preprocessing"] == PREPROCESSING.to_dict()
    assert manifest["graphs"]["encoder"]["inputs"] == {"images": {"dtype": "uint8", "shape": ["batch", 1, 16, 16]}}
    assert manifest["graphs"]["encoder"]["outputs"]["embeddings"]["shape"] == ["batch", 8]
    assert manifest["opset"] == result.opset >= 18
    assert set(result.files) == {"encoder", "comparison"}
    assert all(difference <= 1e-4 for difference in result.max_abs_differences.values())
    assert sorted(path.name for path in (tmp_path / "export").iterdir()) == [
        "comparison.onnx", "encoder.onnx", "siamkit-onnx.json"
    ]  # fmt: skip


def test_a_half_twin_exports_its_second_branch_too(tmp_path: Path, pictures: list[Path]) -> None:
    model = calibrated_model(shared_weights=False)
    export = export_onnx(model, tmp_path / "export")
    assert set(export.files) == {"encoder", "second_encoder", "comparison"}
    exported = OnnxModel(tmp_path / "export")
    assert exported.is_half_twin
    for branch in (0, 1):
        np.testing.assert_allclose(
            exported.embed(pictures, branch=branch), model.embed(pictures, branch=branch).numpy(), atol=1e-5
        )
    # The two branches have their own weights, so which side a picture is on matters, as in the bundle.
    assert not np.allclose(exported.embed(pictures, branch=0), exported.embed(pictures, branch=1))
    assert exported.verify(pictures[0], pictures[1]).score == pytest.approx(
        model.verify(pictures[0], pictures[1]).score, abs=1e-5
    )


def test_a_graph_that_does_not_match_pytorch_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_create_session = onnx_export.create_session

    class Drifting:
        """An engine whose outputs are off by 0.01: what a wrongly exported operator would look like."""

        def __init__(self, session: object) -> None:
            self.session = session

        def run(self, names: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            return [output + 0.01 for output in self.session.run(names, feeds)]  # type: ignore[attr-defined]

    monkeypatch.setattr(
        onnx_export, "create_session", lambda runtime, path, threads=None: Drifting(real_create_session(runtime, path))
    )
    with pytest.raises(ExportError, match=r"the exported encoder differs from PyTorch by 0\.01"):
        export_onnx(calibrated_model(), tmp_path / "export")
    assert list(tmp_path.iterdir()) == []


def test_an_exporter_failure_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_export(*arguments: object, **options: object) -> None:
        raise RuntimeError("aten::strange_operator has no ONNX form\nlong traceback-like detail")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    with pytest.raises(
        ExportError, match=r"^could not export the encoder to ONNX: aten::strange_operator has no ONNX form$"
    ):
        export_onnx(calibrated_model(), tmp_path / "export")
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_packages_are_named_with_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ConfigError, match=r"onnxruntime is missing\): pip install 'siamkit\[onnx\]'"):
        export_onnx(calibrated_model(), tmp_path / "export")
    assert list(tmp_path.iterdir()) == []


def test_an_earlier_export_is_replaced_but_nothing_else_is(tmp_path: Path) -> None:
    model = calibrated_model()
    model.save(tmp_path / "bundle")
    bundle = siamkit.load(tmp_path / "bundle")
    export_onnx(bundle, tmp_path / "export")
    bundle.threshold = 0.7
    export_onnx(bundle, tmp_path / "export")
    assert OnnxModel(tmp_path / "export").threshold == 0.7
    with pytest.raises(ConfigError, match="would replace the bundle itself"):
        export_onnx(bundle, tmp_path / "bundle")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"notes: exists and is not an ONNX export"):
        export_onnx(bundle, tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    assert siamkit.load(tmp_path / "bundle").fingerprint == model.fingerprint


def test_a_broken_export_folder_is_named_when_loaded(tmp_path: Path) -> None:
    export_onnx(calibrated_model(), tmp_path / "export")
    manifest_path = tmp_path / "export" / "siamkit-onnx.json"
    manifest = json.loads(manifest_path.read_text())
    with pytest.raises(BundleError, match=r"nothing/siamkit-onnx\.json: missing"):
        OnnxModel(tmp_path / "nothing")
    manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(BundleError, match="format_version 99 is not 1"):
        OnnxModel(tmp_path / "export")
    outside = {**manifest, "graphs": {**manifest["graphs"], "encoder": {"file": "../bundle/model.safetensors"}}}
    manifest_path.write_text(json.dumps(outside))
    with pytest.raises(BundleError, match=r"graphs\.encoder\.file must be a file name in the folder"):
        OnnxModel(tmp_path / "export")
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "export" / "comparison.onnx").write_bytes(b"not a graph")
    with pytest.raises(BundleError, match=r"comparison\.onnx: not a readable ONNX graph"):
        OnnxModel(tmp_path / "export")
    (tmp_path / "export" / "comparison.onnx").unlink()
    with pytest.raises(BundleError, match=r"comparison\.onnx: missing; the export is incomplete"):
        OnnxModel(tmp_path / "export")


def test_a_wrongly_shaped_image_batch_is_refused_by_name(tmp_path: Path) -> None:
    export_onnx(calibrated_model(), tmp_path / "export")
    exported = OnnxModel(tmp_path / "export")
    with pytest.raises(siamkit.errors.DataError, match=r"uint8 \(N, \*\(1, 16, 16\)\), got float32"):
        exported.embed(np.zeros((2, 1, 16, 16), dtype=np.float32))


def test_the_cli_exports_and_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    calibrated_model().save(tmp_path / "bundle")
    completed = run_siamkit("export", "--model", str(tmp_path / "bundle"), "--output", str(tmp_path / "out"), "--json")
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert set(summary["files"]) == {"encoder", "comparison"}
    assert summary["opset"] >= 18
    assert all(size > 0 for size in summary["sizes_bytes"].values())
    assert "torchvision" not in completed.stderr  # the exporter's own chatter is not shown

    missing = run_siamkit("export", "--model", str(tmp_path / "absent"), "--output", str(tmp_path / "out2"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ") and "absent" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out2").exists()

    onto_bundle = run_siamkit("export", "--model", str(tmp_path / "bundle"), "--output", str(tmp_path / "bundle"))
    assert onto_bundle.returncode == 2
    assert "would replace the bundle itself" in onto_bundle.stderr
    assert siamkit.load(tmp_path / "bundle").threshold == 0.9


def test_the_shipped_omniglot_model_exports_with_its_test_time_views(shared_data: Path, tmp_path: Path) -> None:
    import zipfile

    repository = Path(__file__).resolve().parents[2]
    model = siamkit.load(repository / "models" / "omniglot")
    export_onnx(model, tmp_path / "export")
    exported = OnnxModel(tmp_path / "export")
    with zipfile.ZipFile(shared_data / "omniglot" / "images_background.zip") as archive:
        names = sorted(name for name in archive.namelist() if "Bengali/character01/" in name and name.endswith(".png"))
        names += sorted(name for name in archive.namelist() if "Bengali/character02/" in name and name.endswith(".png"))
        images = [archive.read(name) for name in names[:2] + names[-2:]]
    expected = model.embed(images).numpy()
    np.testing.assert_allclose(exported.embed(images), expected, atol=1e-4)
    same, different = exported.verify(images[0], images[1]), exported.verify(images[0], images[2])
    assert same.score == pytest.approx(model.verify(images[0], images[1]).score, abs=1e-4)
    assert different.score == pytest.approx(model.verify(images[0], images[2]).score, abs=1e-4)


def test_a_model_told_to_use_its_export_embeds_in_onnx_runtime_only(tmp_path: Path, pictures: list[Path]) -> None:
    model = calibrated_model(shared_weights=False)
    export_onnx(model, tmp_path / "export")
    expected = [model.embed(pictures, branch=branch) for branch in (0, 1)]
    expected_result = model.verify(pictures[0], pictures[1])
    model.use_onnx_export(tmp_path / "export", threads=1)

    def no_pytorch(*arguments: object) -> None:
        raise AssertionError("PyTorch embedded an image")

    model.network.encoder.forward = no_pytorch  # type: ignore[method-assign]
    model.network.second_encoder.forward = no_pytorch  # type: ignore[union-attr, method-assign]
    for branch in (0, 1):
        torch.testing.assert_close(model.embed(pictures, batch_size=3, branch=branch), expected[branch])
    result = model.verify(pictures[0], pictures[1])
    assert result.score == pytest.approx(expected_result.score, abs=1e-5) and result.same == expected_result.same


def test_an_export_whose_graph_was_swapped_is_refused_by_the_model(tmp_path: Path) -> None:
    model, other = calibrated_model(), calibrated_model()
    export_onnx(model, tmp_path / "export")
    export_onnx(other, tmp_path / "other")
    # The manifest still names `model`, but the encoder graph is now another network's: its SHA-256 differs.
    (tmp_path / "export" / "encoder.onnx").write_bytes((tmp_path / "other" / "encoder.onnx").read_bytes())
    with pytest.raises(BundleError, match=r"encoder\.onnx: changed since it was exported"):
        model.use_onnx_export(tmp_path / "export")
    # With the digests taken out of the manifest too, embedding two probe inputs still tells.
    manifest_path = tmp_path / "export" / "siamkit-onnx.json"
    manifest = json.loads(manifest_path.read_text())
    for graph in manifest["graphs"].values():
        del graph["sha256"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"export: its graphs do not embed as this bundle does"):
        model.use_onnx_export(tmp_path / "export")
    assert model.onnx_export is None


@pytest.mark.parametrize("pooling", ["flatten", "bilinear"])
def test_the_resnet_s_flatten_and_bilinear_poolings_export(pooling: str, tmp_path: Path) -> None:
    network = SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("resnet", PREPROCESSING.input_shape, 8, {"widths": [4, 8], "pooling": pooling}))
    )
    model = siamkit.SiameseModel(network.eval(), PREPROCESSING)
    export = export_onnx(model, tmp_path / "export")
    # export_onnx itself refuses a graph that drifts from PyTorch; check it says so, and embeds like the bundle.
    assert export.max_abs_differences["encoder"] < 1e-4
    images = list(np.random.default_rng(2).integers(0, 256, (3, 16, 16), dtype=np.uint8))
    exported = OnnxModel(tmp_path / "export").embed(images)
    assert np.allclose(exported, model.embed(images).numpy(), atol=1e-4)
