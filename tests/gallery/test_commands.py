"""`siamkit gallery ...` end to end through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from siamkit.cli import app
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork

runner = CliRunner()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, Path]]:
    """A pixel-identity model (4x4 grey images, Euclidean distance, threshold 1.0) and one image per shade."""
    network = SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("mlp", (1, 4, 4), 16, {"hidden_dims": []}), ComparisonConfig("euclidean"))
    )
    with torch.no_grad():
        network.encoder[1].weight.copy_(torch.eye(16))
        network.encoder[1].bias.zero_()
    SiameseModel(network, PreprocessingConfig(image_size=(4, 4)), threshold=1.0).save(tmp_path / "model")
    images = {}
    for name, value in (("dark", 0), ("dark2", 20), ("light", 255), ("mid", 128)):
        images[name] = tmp_path / f"{name}.png"
        Image.fromarray(np.full((4, 4), value, dtype=np.uint8)).save(images[name])
    return tmp_path / "model", tmp_path / "staff.gallery", images


def invoke(*arguments: str) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_enrol_identify_verify_remove_export_import(setup: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    model, gallery, images = setup
    common = ["--model", str(model), "--gallery", str(gallery)]
    invoke("gallery", "create", *common)
    invoke("gallery", "enrol", str(images["dark"]), *common, "--id", "alice", "--meta", "team=red")
    invoke("gallery", "enrol", str(images["light"]), *common, "--id", "bob")
    listed = json.loads(invoke("gallery", "list", *common, "--json"))
    assert [(row["identity"], row["references"]) for row in listed] == [("alice", 1), ("bob", 1)]
    assert listed[0]["metadata"] == {"team": "red"}

    found = json.loads(invoke("gallery", "identify", str(images["dark2"]), *common, "--json"))
    assert found["identity"] == "alice"  # distance 4 * 20/255 = 0.31 <= 1.0
    unknown = json.loads(invoke("gallery", "identify", str(images["mid"]), *common, "--json"))
    assert unknown["identity"] is None  # 2 units from both
    claim = json.loads(invoke("gallery", "verify-claim", str(images["dark2"]), *common, "--id", "bob", "--json"))
    assert claim["accepted"] is False and claim["scoring"] == "mean" and claim["references"] == 1
    invoke("gallery", "enrol", str(images["mid"]), *common, "--id", "alice")  # alice: dark and mid
    best = invoke("gallery", "verify-claim", str(images["dark2"]), *common, "--id", "alice", "--scoring", "best")
    assert best.startswith("ACCEPTED") and "best of 2 references" in best  # 4 * 20/255 from dark
    mean = invoke("gallery", "verify-claim", str(images["dark2"]), *common, "--id", "alice")
    assert mean.startswith("REJECTED") and "mean of 2 references" in mean  # (4 * 20 + 4 * 108) / 255 / 2

    invoke("gallery", "export", str(tmp_path / "staff.npz"), *common)
    invoke("gallery", "remove", *common, "--id", "bob")
    assert "bob" not in invoke("gallery", "list", *common)
    other = ["--model", str(model), "--gallery", str(tmp_path / "copy.gallery")]
    invoke("gallery", "create", *other)
    invoke("gallery", "import", str(tmp_path / "staff.npz"), *other)
    assert [row["identity"] for row in json.loads(invoke("gallery", "list", *other, "--json"))] == ["alice", "bob"]


def test_an_unknown_identity_is_a_one_line_error(setup: tuple[Path, Path, dict[str, Path]]) -> None:
    model, gallery, images = setup
    invoke("gallery", "create", "--model", str(model), "--gallery", str(gallery))
    completed = subprocess.run(
        [sys.executable, "-m", "siamkit", "gallery", "verify-claim", str(images["dark"]), "--model", str(model),
         "--gallery", str(gallery), "--id", "nobody"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 2
    assert len(completed.stderr.strip().splitlines()) == 1 and "nobody" in completed.stderr
    bad_scoring = subprocess.run(
        [sys.executable, "-m", "siamkit", "gallery", "verify-claim", str(images["dark"]), "--model", str(model),
         "--gallery", str(gallery), "--id", "nobody", "--scoring", "maximum"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad_scoring.returncode == 2
    assert bad_scoring.stderr.strip().splitlines() == [
        "error: claim scoring must be one of ('mean', 'best', 'centroid'), got 'maximum'"
    ]


def shades_folder(root: Path, classes: dict[str, list[int]]) -> Path:
    """One folder per class of flat 4x4 images of the given shades."""
    for name, shades in classes.items():
        (root / name).mkdir(parents=True)
        for index, shade in enumerate(shades):
            Image.fromarray(np.full((4, 4), shade, dtype=np.uint8)).save(root / name / f"{index}.png")
    return root


def test_calibrate_claims_stores_the_scoring_and_threshold_that_verify_claim_then_uses(
    setup: tuple[Path, Path, dict[str, Path]], tmp_path: Path
) -> None:
    model, gallery, images = setup
    common = ["--model", str(model), "--gallery", str(gallery)]
    held_out = shades_folder(
        tmp_path / "held_out", {"a": [0, 10, 20, 30], "b": [90, 100, 110, 120], "c": [180, 190, 200, 210]}
    )
    invoke("gallery", "create", *common)
    invoke("gallery", "enrol", str(images["dark"]), str(images["mid"]), *common, "--id", "alice")
    calibrate = ["gallery", "calibrate-claims", *common, "--data", str(held_out), "--references", "2"]
    stored = json.loads(invoke(*calibrate, "--scoring", "centroid", "--eer", "--json"))
    # 3 classes x 10 draws: 2 genuine claims and 8 impostors each; the shades are far apart, so no errors
    assert (stored["n_genuine"], stored["n_impostor"]) == (3 * 10 * 2, 3 * 10 * 8)
    assert stored["achieved_far"] == 0.0 and stored["achieved_frr"] == 0.0
    claim = json.loads(invoke("gallery", "verify-claim", str(images["dark2"]), *common, "--id", "alice", "--json"))
    assert claim["scoring"] == "centroid" and claim["threshold"] == pytest.approx(stored["threshold"])
    completed = subprocess.run(
        [sys.executable, "-m", "siamkit", "gallery", "calibrate-claims", *common, "--data", str(held_out),
         "--references", "2", "--scoring", "centroid"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == ["error: give exactly one of --target-far F or --eer"]


def test_calibrate_identification_stores_the_open_set_threshold_identify_then_uses(
    setup: tuple[Path, Path, dict[str, Path]], tmp_path: Path
) -> None:
    model, gallery, images = setup
    common = ["--model", str(model), "--gallery", str(gallery)]
    invoke("gallery", "create", *common)
    invoke("gallery", "enrol", str(images["dark"]), *common, "--id", "alice")
    assert json.loads(invoke("gallery", "identify", str(images["dark2"]), *common, "--json"))["identity"] == "alice"
    strangers = shades_folder(tmp_path / "strangers", {"carol": [15, 60], "dave": [90, 250]})  # 0.24 .. 3.9 away
    stored = json.loads(
        invoke("gallery", "calibrate-identification", *common, "--data", str(strangers), "--target-fpir", "0", "--json")
    )
    assert stored["fpir"] == 0.0 and stored["n_strangers"] == 4 and stored["references"] == 1
    found = json.loads(invoke("gallery", "identify", str(images["dark2"]), *common, "--json"))
    assert found["identity"] is None and found["threshold"] == pytest.approx(stored["threshold"])  # 0.31 > 0.24
    assert found["warning"] is None
    invoke("gallery", "enrol", str(images["light"]), *common, "--id", "bob")  # 2 references, fitted on 1
    grown = subprocess.run(
        [sys.executable, "-m", "siamkit", "gallery", "identify", str(images["dark2"]), *common],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert grown.returncode == 0 and "UNKNOWN" in grown.stdout
    assert grown.stderr.startswith("warning: the identification threshold was fitted on 1 references")
