"""The open-set threshold fitted on a gallery: FPIR arithmetic by hand, storage, and its use by identify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamkit.errors import ConfigError, DataError
from siamkit.gallery import Gallery, GalleryError
from siamkit.gallery.identification import IdentificationPolicy, fpir_threshold

from .flattening_model import flattening_model


def square(value: int) -> np.ndarray:
    return np.full((4, 4), value, dtype=np.uint8)


def test_the_fpir_threshold_lets_through_at_most_the_target_share() -> None:
    similarities = np.array([0.6, 0.9, 0.7, 0.8])
    threshold = fpir_threshold(similarities, 0.25)  # one of four may pass: just above the second best
    assert 0.8 < threshold < 0.8 + 1e-12 and (similarities >= threshold).sum() == 1
    assert fpir_threshold(similarities, 0.0) > 0.9  # none may pass
    tied = np.array([0.9, 0.8, 0.8, 0.1])
    assert (tied >= fpir_threshold(tied, 0.5)).sum() == 1  # ties with the first rejected probe are rejected too
    with pytest.raises(ConfigError, match="target FPIR must be at least 0 and below 1"):
        fpir_threshold(similarities, 1.0)
    with pytest.raises(DataError, match="at least one finite best score"):
        fpir_threshold(np.array([0.5, np.nan]), 0.1)
    with pytest.raises(DataError, match="at least one finite best score"):
        fpir_threshold(np.zeros(0), 0.1)


def test_an_identification_policy_round_trips_and_defaults_for_old_galleries() -> None:
    policy = IdentificationPolicy(0.123456789, 40, 0.01)
    assert IdentificationPolicy.from_settings(policy.to_settings()) == policy
    assert IdentificationPolicy.from_settings({}) == IdentificationPolicy(None, 0, None)
    older = {"identification_threshold": "0.5", "identification_references": "40"}  # before the target was kept
    assert IdentificationPolicy.from_settings(older) == IdentificationPolicy(0.5, 40, None)
    with pytest.raises(ConfigError, match="identification threshold must be a finite number"):
        IdentificationPolicy(float("inf"))
    with pytest.raises(ConfigError, match="target FPIR must be at least 0 and below 1"):
        IdentificationPolicy(0.5, 40, 1.0)


def test_identify_warns_once_the_gallery_has_grown_past_its_calibration() -> None:
    policy = IdentificationPolicy(0.5, 10, 0.01)
    assert policy.growth_warning(10) is None and policy.growth_warning(12) is None  # within 20%
    warning = policy.growth_warning(20)
    # twice the references: 1 - 0.99 ** 2 = 1.99% of strangers named, by the independence estimate
    assert warning is not None and "fitted on 10 references and the gallery now holds 20" in warning
    assert "fitted for FPIR 1.00%; expect about 1.99% now" in warning and "calibrate-identification" in warning
    assert "expect" not in (IdentificationPolicy(0.5, 10).growth_warning(20) or "expect")
    assert IdentificationPolicy(0.5, 10).growth_warning(20) is not None
    assert IdentificationPolicy(None, 10).growth_warning(1000) is None  # the bundle's threshold: nothing to warn


def test_calibrate_identification_stores_the_threshold_identify_then_uses(tmp_path: Path) -> None:
    model = flattening_model(threshold=1.0)  # distance 4 * |a - b| / 255 between squares a and b
    path = tmp_path / "g.sqlite"
    with Gallery.create(path, model) as gallery:
        with pytest.raises(GalleryError, match="the gallery is empty"):
            gallery.calibrate_identification([square(50)], target_fpir=0.25)
        gallery.enrol("alice", square(0))
        gallery.enrol("bob", square(200))
        assert gallery.identify(square(60)).identity == "alice"  # 0.94 from alice, under the bundle's 1.0
        # Strangers' best distances: 0.78 (50), 0.94 (60), 1.57 (100), 1.10 (130, from bob). One in four may be
        # named: the threshold sits just below the second nearest.
        strangers = [square(50), square(60), square(100), square(130)]
        result = gallery.calibrate_identification(strangers, target_fpir=0.25)
        assert result["fpir"] == 0.25 and result["n_strangers"] == 4 and result["references"] == 2
        assert result["threshold"] == pytest.approx(4 * 60 / 255, abs=1e-6)  # just under it: 60 is not named
        assert gallery.identify(square(60)).identity is None
        assert gallery.identify(square(50)).identity == "alice"
    with Gallery.open(path, model) as reopened:
        assert reopened.settings.identification == IdentificationPolicy(result["threshold"], 2, 0.25)
        assert reopened.identify(square(60)).warning is None
        reopened.enrol("carol", square(120))  # 3 references where the threshold was fitted on 2
        warning = reopened.identify(square(60)).warning
        assert warning is not None and "fitted on 2 references and the gallery now holds 3" in warning
        assert reopened.identify(square(60), threshold=1.0).warning is None  # not the gallery's threshold
        assert reopened.identify(square(60)).threshold == result["threshold"]
        assert reopened.identify(square(60), threshold=1.0).identity == "alice"  # an explicit threshold wins
