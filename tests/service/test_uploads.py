"""Uploaded-image validation: formats, truncation, the pixel limit checked before decoding, thumbnails."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.service.errors import BadUploadError, NotAnImageError
from siamkit.service.thumbnails import thumbnail_data_uri
from siamkit.service.uploads import decode_upload

PREPROCESSING = PreprocessingConfig(image_size=(4, 4))


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height`: a decompression bomb's header, without the bomb."""
    data = bytearray(png_bytes(np.zeros((1, 1), dtype=np.uint8)))
    # Bytes 8-15 are the IHDR chunk's length and type; 16-23 its width and height; 29-32 the CRC of bytes 12-28.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_a_png_is_decoded_and_resized_with_the_models_preprocessing() -> None:
    array = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    decoded = decode_upload(png_bytes(array), "first", PREPROCESSING, max_pixels=1000)
    expected = np.asarray(Image.fromarray(array).resize((4, 4), Image.Resampling.BILINEAR))
    assert decoded.array.shape == (1, 4, 4) and decoded.array.dtype == np.uint8
    np.testing.assert_array_equal(decoded.array[0], expected)
    assert decoded.thumbnail is None


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("size", [(20000, 20000), (10000, 10000), (200, 200)])
def test_too_many_pixels_are_refused_from_the_header_without_decoding(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(BadUploadError, match=r"too many pixels|more than the 10,000 allowed") as caught:
        decode_upload(png_claiming_size(*size), "image", PREPROCESSING, max_pixels=10_000)
    assert "image" in str(caught.value)


def test_pillows_own_bomb_guard_is_reported_as_too_many_pixels() -> None:
    # 400 million pixels trips Pillow's DecompressionBombError while it parses the header.
    with pytest.raises(BadUploadError, match="too many pixels"):
        decode_upload(png_claiming_size(20000, 20000), "image", PREPROCESSING, max_pixels=10**12)


def test_a_non_image_is_415_and_a_truncated_image_422() -> None:
    with pytest.raises(NotAnImageError, match="first: not an image"):
        decode_upload(b"hello, I am a text file" * 10, "first", PREPROCESSING, max_pixels=1000)
    whole = png_bytes(np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8))
    with pytest.raises(BadUploadError, match="corrupt or truncated"):
        decode_upload(whole[: len(whole) // 2], "second", PREPROCESSING, max_pixels=10_000)
    with pytest.raises(BadUploadError, match="empty"):
        decode_upload(b"", "second", PREPROCESSING, max_pixels=10_000)
    assert NotAnImageError.status_code == 415 and BadUploadError.status_code == 422


def test_the_thumbnail_is_a_small_png_data_uri_of_the_original_image() -> None:
    colour = np.zeros((100, 200, 3), dtype=np.uint8)
    colour[..., 0] = 255  # red, which the model's grey preprocessing would lose
    decoded = decode_upload(png_bytes(colour), "images[0]", PREPROCESSING, max_pixels=10**6, thumbnail_size=64)
    assert decoded.thumbnail is not None and decoded.thumbnail.startswith("data:image/png;base64,")
    thumbnail = Image.open(io.BytesIO(base64.b64decode(decoded.thumbnail.split(",", 1)[1])))
    assert thumbnail.format == "PNG" and thumbnail.size == (64, 32)
    assert thumbnail.convert("RGB").getpixel((10, 10)) == (255, 0, 0)
    # Palette and 16-bit images are converted first.
    sixteen_bit = Image.fromarray(np.full((10, 10), 40000, dtype=np.uint16))
    assert thumbnail_data_uri(sixteen_bit, 64).startswith("data:image/png;base64,")
