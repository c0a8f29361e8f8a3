"""`ink_margin`: a border of background kept around the cropped ink."""

from __future__ import annotations

import numpy as np
import pytest

from siamkit.data import PreprocessingConfig, load_image_array
from siamkit.errors import ConfigError


def _page_with_a_square() -> np.ndarray:
    page = np.full((40, 60), 255, dtype=np.uint8)
    page[10:20, 20:30] = 0  # a 10x10 square of ink on white paper
    return page


def test_the_margin_is_that_share_of_the_ink_box_in_background_on_every_side() -> None:
    # 10 px of ink with a 0.2 margin is 2 px of paper each side: 14 px, resized to 14 px unchanged.
    config = PreprocessingConfig(image_size=(14, 14), crop_to_ink=True, ink_margin=0.2)
    array = load_image_array(_page_with_a_square(), config)[0]
    expected = np.full((14, 14), 255, dtype=np.uint8)
    expected[2:12, 2:12] = 0
    np.testing.assert_array_equal(array, expected)


def test_the_margin_takes_the_pages_own_background_shade() -> None:
    page = _page_with_a_square()
    page[page == 255] = 200  # grey paper
    config = PreprocessingConfig(image_size=(12, 12), crop_to_ink=True, ink_margin=0.1)
    array = load_image_array(page, config)[0]
    assert array[0].tolist() == [200] * 12 and array[1:11, 1:11].max() == 0


def test_a_zero_margin_is_left_out_of_the_saved_config_and_round_trips() -> None:
    plain = PreprocessingConfig(crop_to_ink=True)
    assert "ink_margin" not in plain.to_dict()  # older bundles keep their fingerprints
    margin = PreprocessingConfig(crop_to_ink=True, ink_margin=0.1)
    assert PreprocessingConfig.from_dict(margin.to_dict()) == margin


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"crop_to_ink": True, "ink_margin": -0.1}, "ink_margin must be between 0 and 1"),
        ({"crop_to_ink": True, "ink_margin": 1.5}, "ink_margin must be between 0 and 1"),
        ({"ink_margin": 0.1}, "ink_margin needs crop_to_ink"),
    ],
)
def test_bad_margins_are_named(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PreprocessingConfig(**options)  # type: ignore[arg-type]
