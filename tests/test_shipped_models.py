"""The bundles shipped in models/: they load, are small, carry a calibrated decision, and verify real pairs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import siamkit

REPOSITORY = Path(__file__).resolve().parents[1]
MODELS = REPOSITORY / "models"
MAX_BUNDLE_BYTES = 20_000_000


@pytest.mark.parametrize("name", ["signatures", "faces"])
def test_shipped_bundle_loads_is_small_and_calibrated(name: str) -> None:
    bundle = MODELS / name
    assert (bundle / "model.safetensors").is_file() and (bundle / "config.json").is_file()
    assert sum(path.stat().st_size for path in bundle.iterdir()) <= MAX_BUNDLE_BYTES
    model = siamkit.load(bundle)
    assert model.threshold is not None
    assert model.calibration is not None and model.calibration["method"] == "platt"


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
    accepted = model.verify(genuine, other_genuine)
    imitated = model.verify(genuine, forgery)
    assert accepted.same
    assert accepted.probability is not None and imitated.probability is not None
    assert accepted.probability > imitated.probability and accepted.score < imitated.score
    assert not model.verify(genuine, other_writer).same


def test_face_model_tells_two_people_apart(shared_data: Path, tmp_path: Path) -> None:
    first, second, other = unpack(
        shared_data / "orl_faces" / "orl_faces.zip",
        ["orl_faces/s1/1.pgm", "orl_faces/s1/2.pgm", "orl_faces/s2/1.pgm"],
        tmp_path,
    )
    model = siamkit.load(MODELS / "faces")
    assert model.verify(first, second).same
    assert not model.verify(first, other).same
