"""Ensemble bundles: the combined score is the members' scores averaged, and members that cannot be averaged are
refused by name with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import siamkit
from siamkit.bundle import CONFIG_FILE, WEIGHTS_FILE
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.ensemble import combine_bundles, combined_similarities
from siamkit.errors import BundleError, ConfigError
from siamkit.gallery import Gallery
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork

SIDE = 20


def save_member(
    path: Path,
    seed: int,
    comparison: str = "euclidean",
    normalize: bool = True,
    encoder: str = "conv4",
    invert: bool = True,
) -> Path:
    torch.manual_seed(seed)
    options = {"width": 4} if encoder == "conv4" else {"widths": [4, 8]}
    config = SiameseConfig(
        EncoderConfig(encoder, (1, SIDE, SIDE), 8 if encoder == "conv4" else 6, options),
        ComparisonConfig(comparison),
        normalize_embeddings=normalize,
    )
    network = SiameseNetwork.from_config(config)
    network.train()
    for _ in range(20):  # batch-norm statistics of inputs like the tests', so that members tell images apart
        network.embed(torch.rand(8, 1, SIDE, SIDE).repeat_interleave(4, -1).repeat_interleave(4, -2)[..., :SIDE, :SIDE])
    preprocessing = PreprocessingConfig(image_size=(SIDE, SIDE), invert=invert)
    SiameseModel(network, preprocessing, threshold=0.5).save(path)
    return path


@pytest.fixture
def images() -> list[np.ndarray]:
    # Blocky images (5x6 random cells of 4x5 pixels) differ in their coarse structure, as drawings do.
    generator = np.random.default_rng(0)
    cells = [generator.integers(0, 256, size=(5, 6), dtype=np.uint8) for _ in range(8)]
    return [np.kron(cell, np.ones((4, 5), dtype=np.uint8)) for cell in cells]


def pair_similarities(model: SiameseModel, images: list[np.ndarray]) -> np.ndarray:
    """Similarities of the pairs (0, 1), (2, 3), ... as the model scores them."""
    embeddings = model.embed(images)
    return model.similarity_from_score(model.score_embeddings(embeddings[0::2], embeddings[1::2]))


@pytest.mark.parametrize(
    ("comparison", "normalize"),
    [("euclidean", True), ("squared_euclidean", True), ("manhattan", True), ("cosine", False)],
)
def test_the_ensemble_scores_pairs_as_its_members_scores_combined(
    tmp_path: Path, images: list[np.ndarray], comparison: str, normalize: bool
) -> None:
    # Two architectures, so the members' embedding lengths differ too (8 and 6).
    paths = [
        save_member(tmp_path / "a", 0, comparison, normalize),
        save_member(tmp_path / "b", 1, comparison, normalize, encoder="resnet"),
        save_member(tmp_path / "c", 2, comparison, normalize),
    ]
    members = [siamkit.load(path) for path in paths]
    combine_bundles(paths, tmp_path / "ensemble")
    ensemble = siamkit.load(tmp_path / "ensemble")
    assert ensemble.embed(images).shape == (8, 22)

    member_scores = [pair_similarities(member, images) for member in members]
    # Hand-written reference: each member's similarity is a negated distance (cosine: one minus the cosine)
    # between unit embeddings, and the ensemble's is a fixed average of them.
    if comparison in ("cosine", "squared_euclidean"):
        expected = np.mean(member_scores, axis=0)
    elif comparison == "euclidean":
        expected = -np.sqrt(np.mean(np.square(member_scores), axis=0))
    else:
        expected = np.sqrt(3) * np.mean(member_scores, axis=0)
    scored = pair_similarities(ensemble, images)
    np.testing.assert_allclose(scored, expected, atol=1e-5)
    np.testing.assert_allclose(combined_similarities(member_scores, comparison), expected, atol=1e-12)
    # Not just any average: the pairs are ranked differently by the members.
    assert not np.allclose(member_scores[0], member_scores[2], atol=1e-3)


def test_the_ensemble_records_its_members_and_needs_calibrating(tmp_path: Path, images: list[np.ndarray]) -> None:
    paths = [save_member(tmp_path / "a", 0), save_member(tmp_path / "b", 1)]
    fingerprint = combine_bundles(paths, tmp_path / "ensemble")
    config = json.loads((tmp_path / "ensemble" / CONFIG_FILE).read_text())
    members = config["metadata"]["ensemble"]["members"]
    assert [member["fingerprint"] for member in members] == [siamkit.load(path).fingerprint for path in paths]
    assert config["fingerprint"] == fingerprint and config["decision"]["threshold"] is None
    with pytest.raises(ConfigError, match="no decision threshold"):
        siamkit.load(tmp_path / "ensemble").verify(images[0], images[1])
    # Written over one of its own members: the members are read before anything is replaced.
    combine_bundles(paths, paths[0])
    assert siamkit.load(paths[0]).fingerprint == fingerprint


def test_a_gallery_searches_an_ensemble_by_its_averaged_distance(tmp_path: Path, images: list[np.ndarray]) -> None:
    paths = [save_member(tmp_path / "a", 0), save_member(tmp_path / "b", 1, encoder="resnet")]
    combine_bundles(paths, tmp_path / "ensemble")
    ensemble = siamkit.load(tmp_path / "ensemble")
    ensemble.threshold = 10.0  # accept anything: this test is about the ranking
    with Gallery.create(tmp_path / "people.gallery", ensemble) as gallery:
        for index, image in enumerate(images[:6]):
            gallery.enrol(f"person{index}", image)
        query = images[6]
        result = gallery.identify(query, top_k=6)
    # The faiss search's ranking and scores are the ensemble's own distances to every reference.
    distances = ensemble.score_embeddings(ensemble.embed([query] * 6), ensemble.embed(images[:6])).numpy()
    order = np.argsort(distances)
    assert [identity for identity, _ in result.candidates] == [f"person{index}" for index in order]
    np.testing.assert_allclose([score for _, score in result.candidates], distances[order], atol=1e-5)


def test_half_precision_stores_float16_weights(tmp_path: Path, images: list[np.ndarray]) -> None:
    paths = [save_member(tmp_path / "a", 0), save_member(tmp_path / "b", 1)]
    combine_bundles(paths, tmp_path / "full")
    combine_bundles(paths, tmp_path / "half", half_precision=True)
    dtypes = {str(tensor.dtype) for tensor in load_file(str(tmp_path / "half" / WEIGHTS_FILE)).values()}
    assert dtypes == {"torch.float16", "torch.int64"}  # int64: batch-norm step counters
    np.testing.assert_allclose(
        siamkit.load(tmp_path / "half").embed(images), siamkit.load(tmp_path / "full").embed(images), atol=2e-2
    )


@pytest.mark.parametrize(
    ("first", "second", "message", "named"),
    [
        ({}, {"invert": False}, "its preprocessing differs", "b"),
        ({}, {"comparison": "cosine"}, "compares by 'cosine'", "b"),
        ({"comparison": "learned_head"}, {"comparison": "learned_head"}, "has weights of its own", "a"),
        ({"normalize": False}, {"normalize": False}, "trained without normalised embeddings", "a"),
    ],
)
def test_members_that_cannot_be_averaged_are_refused_by_name(
    tmp_path: Path, first: dict, second: dict, message: str, named: str
) -> None:
    paths = [save_member(tmp_path / "a", 0, **first), save_member(tmp_path / "b", 1, **second)]
    with pytest.raises(ConfigError, match=message) as raised:
        combine_bundles(paths, tmp_path / "ensemble")
    assert str(raised.value).startswith(f"{tmp_path / named}: ")
    assert not (tmp_path / "ensemble").exists()


def test_too_few_members_an_ensemble_member_or_a_missing_one_are_refused(tmp_path: Path) -> None:
    first, second = save_member(tmp_path / "a", 0), save_member(tmp_path / "b", 1)
    with pytest.raises(ConfigError, match="at least two"):
        combine_bundles([first], tmp_path / "ensemble")
    combine_bundles([first, second], tmp_path / "pair")
    with pytest.raises(ConfigError, match="already an ensemble"):
        combine_bundles([tmp_path / "pair", first], tmp_path / "ensemble")
    with pytest.raises(BundleError, match="missing"):
        combine_bundles([first, tmp_path / "missing"], tmp_path / "ensemble")
    assert not (tmp_path / "ensemble").exists()


def test_an_unknown_comparison_cannot_be_combined() -> None:
    with pytest.raises(ConfigError, match="cannot be averaged"):
        combined_similarities([np.zeros(2), np.zeros(2)], "mahalanobis")


def test_the_cli_writes_the_ensemble_and_refuses_a_bad_member_in_one_line(tmp_path: Path) -> None:
    first, second = save_member(tmp_path / "a", 0), save_member(tmp_path / "b", 1)
    command = [sys.executable, "-m", "siamkit", "ensemble", "--model", str(first), "--output", str(tmp_path / "e")]
    completed = subprocess.run([*command, "--model", str(second)], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "2 members" in completed.stdout and "siamkit calibrate" in completed.stdout
    assert siamkit.load(tmp_path / "e").network.config.encoder.name == "ensemble"  # type: ignore[union-attr]

    bad = save_member(tmp_path / "c", 2, comparison="cosine")
    refused_command = [*command[:-2], "--output", str(tmp_path / "f"), "--model", str(bad)]
    refused = subprocess.run(refused_command, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith(f"error: {bad}: compares by 'cosine'")
    assert not (tmp_path / "f").exists()


def test_a_half_twin_member_is_refused(tmp_path: Path) -> None:
    config = SiameseConfig(EncoderConfig("conv4", (1, SIDE, SIDE), 8, {"width": 4}), shared_weights=False)
    twin = tmp_path / "twin"
    SiameseModel(SiameseNetwork.from_config(config), PreprocessingConfig(image_size=(SIDE, SIDE), invert=True)).save(
        twin
    )
    with pytest.raises(ConfigError, match="half-twin"):
        combine_bundles([save_member(tmp_path / "a", 0), twin], tmp_path / "ensemble")
