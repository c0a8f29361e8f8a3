"""The pretrained face model: `dlib_face_model`, `siamkit import-face-model`, half-precision bundles."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

import siamkit
from siamkit.applications.faces import DLIB_THRESHOLD, dlib_face_model
from siamkit.cli import app


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faces") / "dlib"
    dlib_face_model().save(folder, half_precision=True)
    return folder


def test_half_precision_bundle_is_half_the_size_and_reloads_exactly(imported: Path) -> None:
    with safe_open(str(imported / "model.safetensors"), framework="pt") as weights:
        assert {weights.get_tensor(name).dtype for name in weights.keys()} == {torch.float16}  # noqa: SIM118
    assert (imported / "model.safetensors").stat().st_size < 12_000_000  # float32 would be 22.4 MB
    model = dlib_face_model()
    fingerprint = model.save(imported.parent / "again", half_precision=True)
    loaded = siamkit.load(imported.parent / "again")
    images = torch.randint(0, 256, (2, 3, 150, 150), dtype=torch.uint8)
    assert torch.equal(loaded.embed(images), model.embed(images))
    assert loaded.fingerprint == model.fingerprint == fingerprint
    assert json.loads((imported / "config.json").read_text())["preprocessing"]["align_faces"] is True


def unpack(shared_data: Path, members: list[str], destination: Path) -> list[Path]:
    paths = []
    with zipfile.ZipFile(shared_data / "orl_faces" / "orl_faces.zip") as archive:
        for member in members:
            path = destination / member.replace("/", "_")
            path.write_bytes(archive.read(member))
            paths.append(path)
    return paths


def test_imported_model_verifies_people_it_never_saw(imported: Path, shared_data: Path, tmp_path: Path) -> None:
    first, second, other = unpack(
        shared_data, ["orl_faces/s5/1.pgm", "orl_faces/s5/7.pgm", "orl_faces/s6/1.pgm"], tmp_path
    )
    model = siamkit.load(imported)
    assert model.threshold == DLIB_THRESHOLD
    assert model.threshold_provenance is not None and model.threshold_provenance["method"] == "fixed"
    assert "dlib's documented rule" in model.threshold_provenance["source"]
    same, different = model.verify(first, second), model.verify(first, other)
    assert same.same and not different.same
    assert same.score < 0.5 < 0.7 < different.score


def test_import_command_writes_a_bundle_and_rejects_a_bad_weights_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["import-face-model", "--output", str(tmp_path / "faces")])
    assert result.exit_code == 0, result.output
    assert siamkit.load(tmp_path / "faces").network.config.encoder.name == "dlib_face_resnet"
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"not a network")
    completed = subprocess.run(
        [sys.executable, "-m", "siamkit.cli", "import-face-model", "--output", str(tmp_path / "bad"),
         "--weights", str(bad)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 2 and not (tmp_path / "bad").exists()
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bad.dat: not dlib's face-recognition ResNet" in lines[0], completed.stderr
