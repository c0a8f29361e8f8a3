"""Model bundles: exact reloads, fingerprints, and clear errors for missing or altered files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import siamkit
from siamkit.bundle import CONFIG_FILE, WEIGHTS_FILE, threshold_provenance, update_bundle_decision
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import BundleError, ConfigError
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


def make_model(comparison: str = "euclidean") -> SiameseModel:
    torch.manual_seed(0)
    network = SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("conv4", (1, 20, 20), 8, {"width": 4}), ComparisonConfig(comparison))
    )
    return SiameseModel(network, PreprocessingConfig(image_size=(20, 20), invert=True), threshold=0.7)


@pytest.fixture
def images() -> list[np.ndarray]:
    generator = np.random.default_rng(0)
    return [generator.integers(0, 256, size=(24, 30), dtype=np.uint8) for _ in range(4)]


def test_reload_gives_bit_identical_embeddings_and_keeps_the_decision(tmp_path: Path, images: list) -> None:
    model = make_model("mahalanobis")
    fingerprint = model.save(tmp_path / "bundle")
    loaded = siamkit.load(tmp_path / "bundle")
    assert torch.equal(loaded.embed(images), model.embed(images))
    assert loaded.threshold == 0.7
    assert loaded.fingerprint == fingerprint == model.fingerprint
    assert loaded.preprocessing == model.preprocessing
    config = json.loads((tmp_path / "bundle" / CONFIG_FILE).read_text())
    assert config["network"]["comparison"]["name"] == "mahalanobis"
    assert sorted(path.name for path in (tmp_path / "bundle").iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]


def test_saving_over_a_bundle_replaces_it_whole(tmp_path: Path) -> None:
    make_model().save(tmp_path / "bundle")
    second = make_model("cosine")
    second.save(tmp_path / "bundle")
    assert siamkit.load(tmp_path / "bundle").fingerprint == second.fingerprint
    assert [path.name for path in tmp_path.iterdir()] == ["bundle"]  # no temporary folders left


@pytest.mark.parametrize("missing", [CONFIG_FILE, WEIGHTS_FILE])
def test_a_missing_file_is_named(tmp_path: Path, missing: str) -> None:
    make_model().save(tmp_path / "bundle")
    (tmp_path / "bundle" / missing).unlink()
    with pytest.raises(BundleError, match=missing):
        siamkit.load(tmp_path / "bundle")


def test_altered_weights_are_detected(tmp_path: Path) -> None:
    make_model().save(tmp_path / "bundle")
    weights = tmp_path / "bundle" / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # flip bits inside the last tensor's bytes
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="fingerprint"):
        siamkit.load(tmp_path / "bundle")


def test_altered_preprocessing_is_detected(tmp_path: Path) -> None:
    make_model().save(tmp_path / "bundle")
    config_path = tmp_path / "bundle" / CONFIG_FILE
    config = json.loads(config_path.read_text())
    config["preprocessing"]["invert"] = False
    config_path.write_text(json.dumps(config))
    with pytest.raises(BundleError, match="fingerprint"):
        siamkit.load(tmp_path / "bundle")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not valid JSON"), (b'{"format": "other"}', "not a siamkit bundle"), (b"\xff\xfe", "not valid JSON")],
)
def test_a_broken_config_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    make_model().save(tmp_path / "bundle")
    (tmp_path / "bundle" / CONFIG_FILE).write_bytes(content)
    with pytest.raises(BundleError, match=message):
        siamkit.load(tmp_path / "bundle")


def test_truncated_weights_are_named(tmp_path: Path) -> None:
    make_model().save(tmp_path / "bundle")
    weights = tmp_path / "bundle" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(BundleError, match=WEIGHTS_FILE):
        siamkit.load(tmp_path / "bundle")


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a model bundle"):
        siamkit.load(tmp_path / "nothing")


def test_updating_the_decision_keeps_the_fingerprint(tmp_path: Path) -> None:
    model = make_model()
    model.save(tmp_path / "bundle")
    update_bundle_decision(tmp_path / "bundle", 0.25, {"method": "platt", "slope": 1.0, "intercept": 0.0})
    loaded = siamkit.load(tmp_path / "bundle")
    assert loaded.threshold == 0.25
    assert loaded.fingerprint == model.fingerprint


def test_the_threshold_s_provenance_travels_with_it_and_is_replaced_with_it(tmp_path: Path) -> None:
    model = make_model()
    model.save(tmp_path / "plain")
    # A bundle saved without a record keeps the old layout: no provenance key at all.
    assert "provenance" not in json.loads((tmp_path / "plain" / CONFIG_FILE).read_text())["decision"]
    assert siamkit.load(tmp_path / "plain").threshold_provenance is None
    record = threshold_provenance("a test", method="target_far", target_far=0.1, far=0.09, n_same=3)
    assert record["source"] == "a test" and record["target_far"] == 0.1
    assert record["created"].endswith("Z") and record["siamkit_version"] == siamkit.__version__
    model.threshold_provenance = record
    model.save(tmp_path / "bundle")
    loaded = siamkit.load(tmp_path / "bundle")
    assert loaded.threshold_provenance == record
    loaded.save(tmp_path / "copy")  # saving a loaded model keeps it
    assert siamkit.load(tmp_path / "copy").threshold_provenance == record
    # A new decision replaces the record too: an old record never describes a new threshold.
    update_bundle_decision(tmp_path / "bundle", 0.3, None)
    assert siamkit.load(tmp_path / "bundle").threshold_provenance is None
    update_bundle_decision(tmp_path / "bundle", 0.3, None, threshold_provenance("again", method="eer"))
    assert siamkit.load(tmp_path / "bundle").threshold_provenance["source"] == "again"
    # No threshold, nothing to account for.
    model.threshold = None
    model.save(tmp_path / "uncalibrated")
    assert "provenance" not in json.loads((tmp_path / "uncalibrated" / CONFIG_FILE).read_text())["decision"]


def test_networks_from_custom_modules_cannot_be_saved(tmp_path: Path) -> None:
    from siamkit.comparisons import EuclideanDistance

    network = SiameseNetwork(torch.nn.Flatten(), EuclideanDistance())
    with pytest.raises(ConfigError, match="SiameseConfig"):
        SiameseModel(network, PreprocessingConfig()).save(tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_saving_never_replaces_a_folder_or_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    """A bundle replaces its folder whole; a mistyped output path must not take a user's files with it."""
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("keep")
    (folder / "config.json").write_text('{"unrelated": true}')
    notes = tmp_path / "notes.txt"
    notes.write_text("keep too")
    for target, message in ((folder, "not a model bundle"), (notes, "is a file")):
        with pytest.raises(BundleError, match=message):
            make_model().save(target)
    assert (folder / "thesis.txt").read_text() == "keep" and notes.read_text() == "keep too"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["documents", "notes.txt"]
    (tmp_path / "empty").mkdir()
    make_model().save(tmp_path / "empty")  # an empty folder, like a bundle, may be written over
    assert siamkit.load(tmp_path / "empty").threshold == 0.7
