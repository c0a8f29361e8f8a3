"""Reading and validating uploaded images before anything decodes their pixels.

The order matters for safety: the header is parsed first (Pillow's `Image.open` reads no pixel data), the
pixel count is checked against the limit, and only then is the image decoded. A 20000x20000 PNG of a few
kilobytes (a decompression bomb) is therefore refused without allocating its 400 million pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from siamkit.data.preprocessing import PreprocessingConfig, image_to_array
from siamkit.errors import DataError
from siamkit.service.errors import BadUploadError, NotAnImageError
from siamkit.service.thumbnails import thumbnail_data_uri


@dataclass
class DecodedImage:
    """One uploaded image, preprocessed for the model.

    Attributes:
        name: What to call the upload in error messages (form field and file name).
        array: `uint8 (channels, height, width)` exactly as the model's preprocessing makes it.
        thumbnail: A PNG data URI of the original image when one was asked for, else None.
    """

    name: str
    array: np.ndarray
    thumbnail: str | None = None


def decode_upload(
    data: bytes,
    name: str,
    preprocessing: PreprocessingConfig,
    max_pixels: int,
    thumbnail_size: int | None = None,
) -> DecodedImage:
    """Validates and decodes one uploaded image.

    Args:
        data: The uploaded file's bytes.
        name: The upload's name for error messages.
        preprocessing: The model's preprocessing.
        max_pixels: Images with more pixels (width x height) are refused before decoding.
        thumbnail_size: Also make a thumbnail this many pixels on its longest side.

    Raises:
        NotAnImageError: The bytes are not an image format Pillow reads.
        BadUploadError: The file is empty, truncated or corrupt, or the image has too many pixels.
    """
    if not data:
        raise BadUploadError(f"{name}: the file is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        # Pillow's own guard, at twice its MAX_IMAGE_PIXELS, fires while reading the header.
        raise BadUploadError(f"{name}: image has too many pixels (more than {max_pixels:,} allowed)") from None
    except Image.UnidentifiedImageError:
        raise NotAnImageError(f"{name}: not an image (upload a PNG, JPEG, BMP, GIF, TIFF or WebP file)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadUploadError(f"{name}: the image is corrupt or truncated ({_one_line(error)})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise BadUploadError(f"{name}: image is {width}x{height} pixels, more than the {max_pixels:,} allowed")
    try:
        image.load()
        array = image_to_array(image, preprocessing, name)
        thumbnail = None if thumbnail_size is None else thumbnail_data_uri(image, thumbnail_size)
    except DataError as error:
        raise BadUploadError(str(error)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadUploadError(f"{name}: the image is corrupt or truncated ({_one_line(error)})") from None
    return DecodedImage(name=name, array=array, thumbnail=thumbnail)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
