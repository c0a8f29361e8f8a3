"""`siamkit info`: the model card read from a bundle, as JSON and as lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from siamkit.bundle import WEIGHTS_FILE, threshold_provenance
from siamkit.bundle_commands import card_lines, provenance_text
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.errors import BundleError
from siamkit.model import SiameseModel
from siamkit.model_card import describe_bundle
from siamkit.network import SiameseConfig, SiameseNetwork


def small_model(threshold: float | None) -> SiameseModel:
    torch.manual_seed(0)
    network = SiameseNetwork.from_config(
        SiameseConfig(EncoderConfig("conv4", (1, 20, 20), 8, {"width": 4}), ComparisonConfig("cosine"))
    )
    return SiameseModel(network, PreprocessingConfig(image_size=(20, 20)), threshold=threshold)


def test_an_uncalibrated_bundle_says_how_to_calibrate_it(tmp_path: Path) -> None:
    small_model(None).save(tmp_path / "bundle")
    card = describe_bundle(tmp_path / "bundle")
    assert card["decision"] == {"threshold": None, "probability_map": None, "provenance": None}
    assert card["encoder"] == {"name": "conv4", "input_shape": [1, 20, 20], "embedding_dim": 8, "options": {"width": 4}}
    assert card["comparison"]["higher_is_more_similar"] is False  # cosine distance: smaller is closer
    assert card["size_bytes"] == sum(path.stat().st_size for path in (tmp_path / "bundle").iterdir())
    lines = card_lines(card)
    assert any(line.startswith("decision   no threshold yet: siamkit calibrate") for line in lines)
    assert any("conv4: input 1x20x20, 8-d embeddings" in line for line in lines)


def test_the_decision_line_reads_the_provenance(tmp_path: Path) -> None:
    model = small_model(0.5)
    model.save(tmp_path / "unrecorded")
    unrecorded = card_lines(describe_bundle(tmp_path / "unrecorded"))
    assert "same when score <= 0.5" in "\n".join(unrecorded) and "not recorded" in "\n".join(unrecorded)
    model.threshold_provenance = threshold_provenance(
        "siamkit calibrate", method="target_far", target_far=0.01, far=0.0095, frr=0.12, data="held_out/",
        protocol="classes", n_same=40, n_different=400,
    )  # fmt: skip
    model.save(tmp_path / "recorded")
    text = provenance_text(describe_bundle(tmp_path / "recorded")["decision"]["provenance"])
    assert text.startswith(
        "siamkit calibrate, at a target FAR of 0.01, on held_out/ (classes protocol, 40 same / 400 different "
        "pairs): FAR 0.95%, FRR 12.00%; "
    )
    assert provenance_text(None).startswith("(not recorded")


def test_an_altered_bundle_gets_no_card(tmp_path: Path) -> None:
    small_model(0.5).save(tmp_path / "bundle")
    weights = tmp_path / "bundle" / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"fingerprint mismatch|unreadable weights"):
        describe_bundle(tmp_path / "bundle")


def test_a_network_from_a_custom_module_has_no_card_and_the_service_still_serves_it(tmp_path: Path) -> None:
    from siamkit.comparisons import EuclideanDistance
    from siamkit.errors import ConfigError
    from siamkit.model_card import describe_model
    from siamkit.service.config import ServiceConfig
    from siamkit.service.engine import ServiceEngine

    model = SiameseModel(SiameseNetwork(torch.nn.Flatten(), EuclideanDistance()), PreprocessingConfig(), threshold=1.0)
    with pytest.raises(ConfigError, match="SiameseConfig"):
        describe_model(model)
    engine = ServiceEngine(ServiceConfig(model_path=tmp_path / "unused"), model)
    assert engine.model_card is None and engine.fingerprint == model.fingerprint
