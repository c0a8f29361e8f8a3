"""Simulated gallery claims: who claims against which references, and the error rates of each scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.comparisons import ComparisonConfig
from siamkit.data.image_folder import load_image_folder
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import ConfigError, DataError
from siamkit.evaluation.calibration import calibrate_threshold
from siamkit.evaluation.claims import calibrate_claims, claim_trials, evaluate_claims
from siamkit.evaluation.verification import verification_metrics
from siamkit.gallery.claims import claim_scores
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork


def vector_model(threshold: float | None = None) -> SiameseModel:
    config = SiameseConfig(EncoderConfig("mlp", (2,), 2, {"hidden_dims": []}), ComparisonConfig("euclidean"))
    return SiameseModel(
        SiameseNetwork.from_config(config), PreprocessingConfig(kind="vector", vector_length=2), threshold=threshold
    )


def pixel_model() -> SiameseModel:
    """Embeds a 4x4 grey image as its 16 pixel values (Euclidean distance, no threshold)."""
    config = SiameseConfig(EncoderConfig("mlp", (1, 4, 4), 16, {"hidden_dims": []}), ComparisonConfig("euclidean"))
    network = SiameseNetwork.from_config(config)
    with torch.no_grad():
        network.encoder[1].weight.copy_(torch.eye(16))
        network.encoder[1].bias.zero_()
    return SiameseModel(network, PreprocessingConfig(image_size=(4, 4)))


def signature_set() -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """Two writers, 4 genuine signatures and 3 forgeries each, as 2-d embeddings."""
    generator = np.random.default_rng(0)
    embeddings, labels, paths = [], [], []
    for writer in (1, 2):
        for kind, count in (("original", 4), ("forgeries", 3)):
            for number in range(count):
                embeddings.append(generator.normal(size=2))
                labels.append(writer)
                paths.append(f"cedar/{writer}/{kind}_{writer}_{number + 1}.png")
    return torch.tensor(np.array(embeddings), dtype=torch.float32), np.array(labels), paths


def test_signature_claims_are_genuine_against_the_writer_s_forgeries() -> None:
    embeddings, labels, paths = signature_set()
    scores, claim_labels = claim_trials(vector_model(), embeddings, labels, paths, "signatures", 2, "mean", draws=3)
    # per writer and draw: the 2 genuine signatures left over, and the writer's 3 forgeries
    assert (claim_labels == 1).sum() == 2 * 3 * 2 and (claim_labels == 0).sum() == 2 * 3 * 3
    assert scores.shape == claim_labels.shape and np.isfinite(scores).all()


def test_class_claims_take_every_other_class_as_impostors_and_skip_small_classes() -> None:
    embeddings = torch.arange(16, dtype=torch.float32).reshape(8, 2)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    paths = [f"{label}/{index}.png" for index, label in enumerate(labels)]
    _, claim_labels = claim_trials(vector_model(), embeddings, labels, paths, "classes", 2, "best", draws=2)
    # classes 0 and 1 (class 2 has no image left after 2 references): 1 genuine claim and 5 impostors per draw
    assert (claim_labels == 1).sum() == 2 * 2 * 1 and (claim_labels == 0).sum() == 2 * 2 * 5


def test_one_writer_one_draw_scores_what_the_gallery_would() -> None:
    embeddings, labels, paths = signature_set()
    model = vector_model()
    keep = labels == 1
    writer_paths = [path for path, kept in zip(paths, keep, strict=True) if kept]
    # 3 references of 4 genuine signatures: the draw leaves one genuine claim; whichever it is, its score and the
    # forgeries' are the gallery's claim scores against the other three
    scores, claim_labels = claim_trials(
        model, embeddings[keep], labels[keep], writer_paths, "signatures", 3, "centroid", draws=1, seed=4
    )
    vectors = embeddings[keep].numpy()  # genuine signatures first, then the forgeries
    left_over = [
        index
        for index in range(4)
        if claim_scores(model, vectors[index : index + 1], np.delete(vectors[:4], index, axis=0), "centroid")[0]
        == pytest.approx(scores[0], abs=1e-6)
    ]
    assert claim_labels.tolist() == [1, 0, 0, 0] and len(left_over) == 1
    references = np.delete(vectors[:4], left_over[0], axis=0)
    np.testing.assert_allclose(scores[1:], claim_scores(model, vectors[4:], references, "centroid"), atol=1e-6)


def test_evaluate_claims_reports_each_count_and_scoring_on_the_same_claims() -> None:
    embeddings, labels, paths = signature_set()
    model = vector_model(threshold=1.0)
    rows = evaluate_claims(model, embeddings, labels, paths, "signatures", [1, 3], draws=5, seed=2)
    assert [(row["references"], row["scoring"]) for row in rows] == [
        (count, scoring) for count in (1, 3) for scoring in ("mean", "best", "centroid")
    ]
    # one reference: every scoring is the pair score, so all three rows agree
    assert len({(row["eer"], row["far"], row["frr"]) for row in rows[:3]}) == 1
    scores, claim_labels = claim_trials(model, embeddings, labels, paths, "signatures", 3, "best", draws=5, seed=2)
    expected = verification_metrics(-scores, claim_labels, -1.0)  # distances: similarity is the negated score
    assert rows[4]["eer"] == pytest.approx(expected.eer) and rows[4]["far"] == pytest.approx(expected.far)
    assert rows[4]["eer_threshold"] == pytest.approx(-expected.eer_threshold)
    assert rows[4]["n_genuine"] == 2 * 5 * 1 and rows[4]["n_impostor"] == 2 * 5 * 3


def test_too_many_references_and_no_draws_are_refused() -> None:
    embeddings, labels, paths = signature_set()
    with pytest.raises(DataError, match="claims with 4 references need an identity with at least 5 genuine images"):
        claim_trials(vector_model(), embeddings, labels, paths, "signatures", 4, "mean")
    with pytest.raises(DataError, match="at least 1 reference and 1 draw"):
        claim_trials(vector_model(), embeddings, labels, paths, "signatures", 1, "mean", draws=0)


def test_calibrate_claims_picks_the_threshold_of_the_simulated_claims(tmp_path: Path) -> None:
    model = pixel_model()
    generator = np.random.default_rng(0)
    for name, centre in (("a", 40), ("b", 120), ("c", 200)):
        (tmp_path / name).mkdir()
        for index in range(4):
            shade = np.clip(centre + generator.normal(0, 30, (4, 4)), 0, 255).astype(np.uint8)
            Image.fromarray(shade).save(tmp_path / name / f"{index}.png")
    dataset = load_image_folder(tmp_path, model.preprocessing)
    embeddings, labels = model.embed(dataset.images), dataset.labels.numpy()
    result = calibrate_claims(model, embeddings, labels, dataset.paths, "classes", 2, "best", 0.2, draws=3, seed=1)
    scores, claim_labels = claim_trials(model, embeddings, labels, dataset.paths, "classes", 2, "best", 3, 1)
    expected = calibrate_threshold(-scores, claim_labels, target_far=0.2)  # distances: similarity is -score
    assert result["threshold"] == pytest.approx(-expected.threshold_similarity)
    assert result["achieved_far"] == pytest.approx(expected.achieved_far) and result["achieved_far"] <= 0.2
    assert (result["n_genuine"], result["n_impostor"]) == (3 * 3 * 2, 3 * 3 * 8)
    with pytest.raises(ConfigError, match="protocol must be 'classes' or 'signatures'"):
        calibrate_claims(model, embeddings, labels, dataset.paths, "faces", 2, "best", target_far=0.2)
