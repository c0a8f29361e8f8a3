"""The bundles shipped in models/: they load, are small, carry a calibrated decision, and verify real pairs."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import siamkit
from siamkit.model_card import describe_bundle

REPOSITORY = Path(__file__).resolve().parents[1]
MODELS = REPOSITORY / "models"
MAX_BUNDLE_BYTES = 20_000_000


@pytest.mark.parametrize("name", ["signatures", "faces", "omniglot"])
def test_shipped_bundle_loads_is_small_and_calibrated(name: str) -> None:
    bundle = MODELS / name
    assert (bundle / "model.safetensors").is_file() and (bundle / "config.json").is_file()
    assert sum(path.stat().st_size for path in bundle.iterdir()) <= MAX_BUNDLE_BYTES
    model = siamkit.load(bundle)
    assert model.threshold is not None
    assert model.calibration is not None and model.calibration["method"] == "platt"
    # Every shipped threshold says how it was chosen: at an EER, on which data, with what error rates.
    provenance = model.threshold_provenance
    assert provenance is not None and provenance["method"] == "eer" and provenance["n_same"] > 0
    assert 0 < provenance["far"] < 0.2 and 0 < provenance["frr"] < 0.2


def test_the_model_card_unfolds_the_shipped_signature_model() -> None:
    card = describe_bundle(MODELS / "signatures")
    views = card["encoder"]
    assert (views["name"], views["views"], views["inner"]["name"]) == ("test_time_views", 8, "ensemble")
    members = views["inner"]["members"]
    assert len(members) == 5 and all(member["options"]["stem_stride"] == 2 for member in members)
    assert card["training"]["ensemble_members"] == 5 and card["training"]["test_time_views"] == 8
    assert card["comparison"] == {
        "name": "euclidean", "higher_is_more_similar": False, "normalize_embeddings": True, "shared_weights": True,
    }  # fmt: skip
    model = siamkit.load(MODELS / "signatures")
    assert card["parameters"] == sum(parameter.numel() for parameter in model.network.parameters())
    assert card["decision"]["threshold"] == model.threshold and card["fingerprint"] == model.fingerprint
    assert "store_decision.py" in card["decision"]["provenance"]["source"]


def test_verify_refuses_a_blank_page_with_the_signature_model(tmp_path: Path) -> None:
    """An empty page has nothing to compare: one line naming it and exit code 2, not a decision."""
    page = np.full((120, 300), 235, dtype=np.uint8)
    Image.fromarray(page).save(tmp_path / "blank.png")
    page[40:80, 50:250:20] = 30  # a few strokes
    Image.fromarray(page).save(tmp_path / "signed.png")
    completed = subprocess.run(
        [sys.executable, "-m", "siamkit.cli", "verify", str(tmp_path / "signed.png"), str(tmp_path / "blank.png"),
         "--model", str(MODELS / "signatures")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    message = completed.stderr.strip()
    assert "blank.png: no ink found" in message and len(message.splitlines()) == 1


def unpack(archive: Path, members: list[str], destination: Path) -> list[Path]:
    with zipfile.ZipFile(archive) as source:
        paths = []
        for member in members:
            path = destination / member.replace("/", "_")
            path.write_bytes(source.read(member))
            paths.append(path)
    return paths


def test_signature_model_scores_a_genuine_pair_above_a_forgery(shared_data: Path, tmp_path: Path) -> None:
    genuine, other_genuine, forgery, other_writer = unpack(
        shared_data / "cedar" / "cedar_dev.zip",
        [
            "cedar/3/original_3_1.png",
            "cedar/3/original_3_2.png",
            "cedar/3/forgeries_3_1.png",
            "cedar/40/original_40_5.png",
        ],
        tmp_path,
    )
    model = siamkit.load(MODELS / "signatures")
    encoder = model.network.config.encoder  # type: ignore[union-attr]
    assert encoder.name == "test_time_views" and encoder.options["encoder"]["name"] == "ensemble"  # 9.9% EER
    accepted = model.verify(genuine, other_genuine)
    imitated = model.verify(genuine, forgery)
    assert accepted.same
    assert accepted.probability is not None and imitated.probability is not None
    assert accepted.probability > imitated.probability and accepted.score < imitated.score
    assert not model.verify(genuine, other_writer).same


def test_signature_model_scores_a_scan_and_its_binary_copy_alike(shared_data: Path, tmp_path: Path) -> None:
    """The shipped model binarises its input, so how a collection stores its pages does not move the score."""
    import numpy as np
    from PIL import Image

    from siamkit.data.preprocessing import otsu_threshold

    genuine, other_genuine = unpack(
        shared_data / "cedar" / "cedar_dev.zip", ["cedar/7/original_7_1.png", "cedar/7/original_7_2.png"], tmp_path
    )
    grey = np.asarray(Image.open(genuine).convert("L"))
    binary_copy = tmp_path / "binary_copy.tif"
    Image.fromarray(np.where(grey <= otsu_threshold(grey), 0, 255).astype(np.uint8)).convert("1").save(binary_copy)
    model = siamkit.load(MODELS / "signatures")
    assert model.preprocessing.binarize
    own_copy = model.verify(genuine, binary_copy)
    assert own_copy.same and own_copy.score < 0.1 * model.threshold
    assert model.verify(binary_copy, other_genuine).score == pytest.approx(
        model.verify(genuine, other_genuine).score, abs=0.1 * model.threshold
    )


def test_face_model_tells_two_people_apart(shared_data: Path, tmp_path: Path) -> None:
    first, second, other = unpack(
        shared_data / "orl_faces" / "orl_faces.zip",
        ["orl_faces/s1/1.pgm", "orl_faces/s1/2.pgm", "orl_faces/s2/1.pgm"],
        tmp_path,
    )
    model = siamkit.load(MODELS / "faces")
    assert model.verify(first, second).same
    assert not model.verify(first, other).same


def test_the_service_verifies_faces_with_the_shipped_face_model(shared_data: Path) -> None:
    """Uploads go through the bundle's face alignment in the service as in the library."""
    from fastapi.testclient import TestClient

    from siamkit.service import ServiceConfig, create_app

    with zipfile.ZipFile(shared_data / "orl_faces" / "orl_faces.zip") as archive:
        first, second, other = (archive.read(f"orl_faces/{name}") for name in ("s3/1.pgm", "s3/4.pgm", "s4/1.pgm"))
    with TestClient(create_app(ServiceConfig(model_path=MODELS / "faces"))) as client:
        same = client.post("/v1/verify", files={"first": ("a.pgm", first), "second": ("b.pgm", second)})
        different = client.post("/v1/verify", files={"first": ("a.pgm", first), "second": ("c.pgm", other)})
    assert same.status_code == 200 and different.status_code == 200, (same.text, different.text)
    assert same.json()["same"] is True and different.json()["same"] is False
    assert same.json()["probability"] > 0.5 > different.json()["probability"]
