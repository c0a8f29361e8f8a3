"""Face alignment in preprocessing: configuration checks, the detector's upsampling, and chips from real faces."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import siamkit
from siamkit.data.face_alignment import align_face, upsampling_for
from siamkit.data.preprocessing import PreprocessingConfig, image_to_array


def test_small_photos_are_upsampled_for_the_detector_and_large_ones_are_not() -> None:
    assert upsampling_for(112, 92) == 2  # ORL
    assert upsampling_for(250, 200) == 1
    assert upsampling_for(1200, 900) == 0
    assert upsampling_for(10, 10) == 2  # never more than twice


def test_alignment_needs_a_square_size_and_no_ink_options() -> None:
    with pytest.raises(siamkit.ConfigError, match="square"):
        PreprocessingConfig(image_size=(150, 120), channels=3, align_faces=True)
    with pytest.raises(siamkit.ConfigError, match="crop_to_ink"):
        PreprocessingConfig(image_size=(150, 150), channels=3, align_faces=True, crop_to_ink=True)


def test_the_option_is_left_out_of_saved_configs_when_off() -> None:
    """Bundles saved before the option existed must keep their fingerprints (which hash this dict)."""
    assert "align_faces" not in PreprocessingConfig().to_dict()
    aligned = PreprocessingConfig(image_size=(150, 150), channels=3, align_faces=True)
    assert PreprocessingConfig.from_dict(aligned.to_dict()) == aligned


def orl_image(shared_data: Path, member: str) -> Image.Image:
    with zipfile.ZipFile(shared_data / "orl_faces" / "orl_faces.zip") as archive, archive.open(member) as file:
        image = Image.open(file)
        image.load()
    return image


def test_a_face_becomes_a_centred_chip_of_the_asked_size(shared_data: Path) -> None:
    image = orl_image(shared_data, "orl_faces/s1/1.pgm")
    chip = align_face(image, 150)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    # ORL is grey: the chip stays grey, and is a zoomed face, not the 92x112 photo squeezed.
    assert np.array_equal(chip[..., 0], chip[..., 2])
    squeezed = np.asarray(image.convert("RGB").resize((150, 150)))
    assert np.abs(chip.astype(int) - squeezed.astype(int)).mean() > 10
    grey = image_to_array(image, PreprocessingConfig(image_size=(120, 120), channels=1, align_faces=True))
    assert grey.shape == (1, 120, 120)


def test_an_image_without_a_face_is_taken_as_a_face_crop() -> None:
    blank = Image.new("RGB", (92, 112), (128, 128, 128))
    chip = align_face(blank, 150)
    assert chip.shape == (150, 150, 3)


def test_a_face_in_a_large_photo_is_found_on_a_smaller_copy_and_cut_at_full_resolution(shared_data: Path) -> None:
    """A 2000x2400 photo (an ORL face scaled up 10x and pasted into a larger grey page) gives the same chip as
    the face itself, up to resampling."""
    face = orl_image(shared_data, "orl_faces/s1/1.pgm").convert("RGB")
    page = Image.new("RGB", (2000, 2400), (90, 90, 90))
    page.paste(face.resize((920, 1120), Image.Resampling.BICUBIC), (500, 600))
    from_page = align_face(page, 150).astype(int)
    from_face = align_face(face, 150).astype(int)
    # The middle of the chip (eyes, nose, mouth); the margins differ where the ORL photo ends and the page goes on.
    assert np.abs(from_page - from_face)[30:120, 30:120].mean() < 12
