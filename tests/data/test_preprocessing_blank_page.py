"""A page without ink is refused when the preprocessing crops to ink: there is nothing on it to compare."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamkit.data.preprocessing import PreprocessingConfig, image_to_array, load_image_array
from siamkit.errors import DataError
from siamkit.service.errors import BadUploadError
from siamkit.service.uploads import decode_upload

SIGNATURES = PreprocessingConfig(
    image_size=(24, 36), invert=True, crop_to_ink=True, keep_aspect=True, remove_background=True, binarize=True
)


def save(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.parametrize(
    "config",
    [SIGNATURES, PreprocessingConfig(image_size=(24, 36), crop_to_ink=True)],
    ids=["signature preset", "crop only"],
)
@pytest.mark.parametrize("shade", [255, 228])
def test_a_blank_page_is_refused_naming_the_file(tmp_path: Path, config: PreprocessingConfig, shade: int) -> None:
    page = np.full((60, 90), shade, dtype=np.uint8)
    page[10:12, 10:12] = shade - 10  # a speck fainter than ink (16 grey levels) is not a signature
    path = save(page, tmp_path / "blank.png")
    with pytest.raises(DataError, match=r"blank\.png: no ink found"):
        load_image_array(path, config)


def test_a_page_with_ink_is_kept_and_without_cropping_a_blank_page_is_accepted(tmp_path: Path) -> None:
    page = np.full((60, 90), 240, dtype=np.uint8)
    page[20:40, 30:33] = 20
    assert load_image_array(save(page, tmp_path / "signed.png"), SIGNATURES).max() == 255
    blank = Image.fromarray(np.full((60, 90), 240, dtype=np.uint8))
    assert (image_to_array(blank, PreprocessingConfig(image_size=(24, 36))) == 240).all()


def test_the_service_answers_a_blank_upload_with_a_422_error() -> None:
    data = io.BytesIO()
    Image.fromarray(np.full((60, 90), 250, dtype=np.uint8)).save(data, format="PNG")
    with pytest.raises(BadUploadError, match="first: no ink found") as raised:
        decode_upload(data.getvalue(), "first", SIGNATURES, max_pixels=10**6)
    assert raised.value.status_code == 422
