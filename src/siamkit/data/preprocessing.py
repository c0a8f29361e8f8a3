"""Turning one input file into the exact tensor the encoder saw in training.

The `PreprocessingConfig` is stored in every model bundle, so inference repeats training's preprocessing.
Images are decoded to `uint8` arrays `(channels, height, width)` once (cheap to keep in memory) and
converted to normalised floats per batch by `normalize_batch`.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, ImageOps

from siamkit.config_types import check_field_types
from siamkit.data.face_alignment import align_face
from siamkit.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pbm", ".bmp", ".tif", ".tiff", ".gif", ".webp")

# Pillow warns above ~89 Mpx and raises above twice that; siamkit refuses anything above this many pixels.
MAX_IMAGE_PIXELS = 64_000_000

ImageSource = str | Path | bytes | Image.Image | np.ndarray


@dataclass
class PreprocessingConfig:
    """How raw inputs become encoder inputs.

    Attributes:
        kind: `image` or `vector`.
        image_size: `(height, width)` every image is resized to.
        channels: 1 for grey, 3 for colour.
        invert: Make dark ink on light paper into bright strokes on black (useful for characters and
            signatures, so that the background is zero).
        crop_to_ink: Crop to the bounding box of the ink before resizing (scanned signatures).
        ink_margin: With `crop_to_ink`, a border of background this fraction of the ink box's longer side wide
            is kept around the ink, so that distortions in training (a slight zoom or turn) do not push strokes
            out of the frame.
        keep_aspect: Pad to the target aspect ratio with background before resizing, instead of stretching.
        remove_background: Rescale grey levels so the paper becomes white and the darkest ink black, and whiten
            faint marks (below 20% of the ink contrast): scans whose paper and ink differ in shade (CEDAR's
            genuine signatures sit on grey paper, its forgeries on white) then look alike, so a model cannot
            tell them apart by the scanner instead of the handwriting.
        binarize: Make every pixel pure ink or pure paper (Otsu's threshold, after `remove_background` when both
            are on). Ink shades are where scanners, pens and binarised collections differ most; a model trained
            on binary strokes compares the shapes only and scores a grey scan and a binary copy of it alike.
        align_faces: Replace the image by the aligned chip of its largest face (dlib's detector and 5-point
            landmarks, `siamkit.data.face_alignment`); needs a square `image_size` and `pip install
            'siamkit[faces]'`. Faces then sit at the same place and scale in every input.
        mean: Subtracted after scaling pixels to [0, 1].
        std: Divides after subtracting `mean`.
        vector_length: Length of each vector when `kind` is `vector`.
    """

    kind: Literal["image", "vector"] = "image"
    image_size: tuple[int, int] = (28, 28)
    channels: int = 1
    invert: bool = False
    crop_to_ink: bool = False
    ink_margin: float = 0.0
    keep_aspect: bool = False
    remove_background: bool = False
    binarize: bool = False
    align_faces: bool = False
    mean: float = 0.0
    std: float = 1.0
    vector_length: int | None = None

    def __post_init__(self) -> None:
        check_field_types(self, "preprocessing")
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        if self.kind not in ("image", "vector"):
            raise ConfigError(f"preprocessing kind must be 'image' or 'vector', got {self.kind!r}")
        if self.channels not in (1, 3):
            raise ConfigError(f"preprocessing channels must be 1 or 3, got {self.channels}")
        if min(self.image_size) < 1:
            raise ConfigError(f"preprocessing image_size must be positive, got {self.image_size}")
        if self.std <= 0:
            raise ConfigError(f"preprocessing std must be positive, got {self.std}")
        if not 0.0 <= self.ink_margin <= 1.0:
            raise ConfigError(f"preprocessing ink_margin must be between 0 and 1, got {self.ink_margin}")
        if self.ink_margin and not self.crop_to_ink:
            raise ConfigError("preprocessing ink_margin needs crop_to_ink (it is a border around the cropped ink)")
        if self.align_faces and self.image_size[0] != self.image_size[1]:
            raise ConfigError(f"preprocessing align_faces needs a square image_size, got {self.image_size}")
        if self.align_faces and (self.crop_to_ink or self.keep_aspect or self.remove_background or self.binarize):
            raise ConfigError(
                "preprocessing align_faces cannot be combined with crop_to_ink, keep_aspect, remove_background"
                " or binarize"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The encoder input shape this preprocessing produces (without the batch axis)."""
        if self.kind == "vector":
            if self.vector_length is None:
                raise ConfigError("preprocessing for vectors needs vector_length")
            return (self.vector_length,)
        return (self.channels, *self.image_size)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        for option in ("align_faces", "binarize", "ink_margin"):
            if not data[option]:
                # Left out when off, so bundles saved before the option existed keep their fingerprints.
                del data[option]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessingConfig:
        known = {field.name for field in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"preprocessing config has unknown fields: {sorted(unknown)}")
        return cls(**data)


def describe_source(source: ImageSource) -> str:
    """A short name for `source` in error messages."""
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def open_image(source: ImageSource, name: str | None = None) -> Image.Image:
    """Decodes an image fully, turning every way it can fail into a `DataError` that names it.

    Args:
        source: A path, encoded bytes, a PIL image or an `(H, W)` / `(H, W, C)` uint8 array.
        name: What to call the image in errors (defaults to the path).
    """
    label = name or describe_source(source)
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3):
            raise DataError(f"{label}: an image array must be (H, W) or (H, W, C), got shape {source.shape}")
        return Image.fromarray(np.ascontiguousarray(source))
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            raise DataError(f"{label}: a folder, not an image file")
        if not path.is_file():
            raise DataError(f"{label}: no such file")
        data = path.read_bytes()
    else:
        data = source
    if len(data) == 0:
        raise DataError(f"{label}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise DataError(
                    f"{label}: image is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} allowed"
                )
            image.load()
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{label}: image is too large to decode safely (decompression bomb)") from None
    except Image.UnidentifiedImageError:
        raise DataError(f"{label}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{label}: the image is corrupt or truncated ({error})") from None
    return image


def _to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Converts any Pillow mode (1, L, P, RGB, RGBA, I;16, ...) to L or RGB, compositing alpha on white."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        span = float(array.max() - array.min()) or 1.0
        image = Image.fromarray(((array - array.min()) / span * 255).astype(np.uint8))
    return image.convert("L" if channels == 1 else "RGB")


# Grey levels between paper and the darkest mark below which a page counts as blank (no ink to work with).
MIN_INK_CONTRAST = 16


def _grey(array: np.ndarray) -> np.ndarray:
    """The grey levels of an `(H, W)` or `(H, W, C)` image (colour channels averaged)."""
    return array if array.ndim == 2 else array.mean(axis=2)


def _crop_to_ink(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (top, bottom, left, right) of pixels clearly darker than the background, or None."""
    background = float(np.median(grey))
    darkest = float(grey.min())
    if background - darkest < MIN_INK_CONTRAST:
        return None
    ink = grey < (background + darkest) / 2
    rows = np.flatnonzero(ink.any(axis=1))
    columns = np.flatnonzero(ink.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1


def _whiten_background(array: np.ndarray, grey: np.ndarray, background: int) -> np.ndarray:
    """Maps the paper (the median grey) to white and the darkest ink to black; marks fainter than 20% of that
    contrast become paper. A page without clear ink (under `MIN_INK_CONTRAST` grey levels) is left as it is."""
    darkest = float(np.percentile(grey, 0.2))
    contrast = background - darkest
    if contrast < MIN_INK_CONTRAST:
        return array
    ink = np.clip((background - array.astype(np.float32)) / contrast, 0.0, 1.0)
    ink[ink < 0.2] = 0.0
    return np.asarray(np.round(255.0 * (1.0 - ink)), dtype=np.uint8)


def _grey_levels(grey: np.ndarray) -> np.ndarray:
    # Colour images' grey is a float mean of channels; rounding it once keeps the threshold and the split alike.
    return np.clip(np.round(grey), 0, 255).astype(np.uint8)


def otsu_threshold(grey: np.ndarray) -> int:
    """Otsu's threshold of a grey image: the level that best splits its histogram into two classes (largest
    between-class variance). Pixels at or below it are the dark class."""
    counts = np.bincount(_grey_levels(grey).ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    dark_weight = np.cumsum(counts)
    dark_sum = np.cumsum(counts * levels)
    light_weight = dark_weight[-1] - dark_weight
    with np.errstate(divide="ignore", invalid="ignore"):
        dark_mean = dark_sum / dark_weight
        light_mean = (dark_sum[-1] - dark_sum) / light_weight
        between = dark_weight * light_weight * (dark_mean - light_mean) ** 2
    between[~np.isfinite(between)] = -1.0
    return int(np.argmax(between))


def _binarize(array: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Ink (at or below Otsu's threshold) to black, everything else to white; a page of one shade is left as it
    is (there is no ink to separate)."""
    if int(grey.max()) - int(grey.min()) < MIN_INK_CONTRAST:
        return array
    levels = _grey_levels(grey)
    ink = levels <= otsu_threshold(levels)
    binary = np.where(ink, 0, 255).astype(np.uint8)
    return binary if array.ndim == 2 else np.repeat(binary[:, :, None], array.shape[2], axis=2)


def image_to_array(image: Image.Image, config: PreprocessingConfig, name: str | None = None) -> np.ndarray:
    """Converts a decoded image to a `uint8` array `(channels, height, width)` following `config`.

    Raises:
        DataError: `config.crop_to_ink` is on and the image has no ink (a blank page, or one of a single
            shade): there is nothing to compare, and scoring the empty page would give a confident-looking
            answer about nothing. `name` labels the image in the message.
    """
    if config.align_faces:
        chip = Image.fromarray(align_face(_to_mode(image, 3), config.image_size[0]))
        return _finish(np.asarray(chip.convert("L" if config.channels == 1 else "RGB"), dtype=np.uint8), config)
    image = _to_mode(image, config.channels)
    target_height, target_width = config.image_size
    if not (config.crop_to_ink or config.keep_aspect or config.remove_background or config.binarize):
        # The common case needs no background estimate, and its median costs about as much as decoding a small PNG.
        if image.size != (target_width, target_height):
            image = image.resize((target_width, target_height), Image.Resampling.BILINEAR)
        return _finish(np.asarray(image, dtype=np.uint8), config)
    array = np.asarray(image, dtype=np.uint8)
    grey = _grey(array)
    background = int(np.median(grey))
    if config.remove_background:
        array = _whiten_background(array, grey, background)
        grey = _grey(array)
        background = 255
    if config.binarize:
        array = _binarize(array, grey)
        grey = _grey(array)
        background = 255
    if config.crop_to_ink:
        box = _crop_to_ink(grey)
        if box is None:
            raise DataError(
                f"{name or 'image'}: no ink found (a blank page, or under {MIN_INK_CONTRAST} grey levels of contrast); "
                "nothing to crop to and compare"
            )
        top, bottom, left, right = box
        array = array[top:bottom, left:right]
        border = round(config.ink_margin * max(bottom - top, right - left))
        if border:
            padding = ((border, border), (border, border)) + ((0, 0),) * (array.ndim - 2)
            array = np.pad(array, padding, constant_values=background)
    image = Image.fromarray(array)
    if config.keep_aspect:
        fill = background if array.ndim == 2 else (background,) * 3
        image = ImageOps.pad(image, (target_width, target_height), color=fill, method=Image.Resampling.BILINEAR)
    elif image.size != (target_width, target_height):
        image = image.resize((target_width, target_height), Image.Resampling.BILINEAR)
    return _finish(np.asarray(image, dtype=np.uint8), config)


def _finish(result: np.ndarray, config: PreprocessingConfig) -> np.ndarray:
    """Inverts if asked and moves channels first: `(H, W)` / `(H, W, C)` -> `(C, H, W)`."""
    if config.invert:
        result = 255 - result
    result = result[None] if result.ndim == 2 else result.transpose(2, 0, 1)
    return np.ascontiguousarray(result)


def load_image_array(source: ImageSource, config: PreprocessingConfig, name: str | None = None) -> np.ndarray:
    """Decodes and preprocesses one image to `uint8 (channels, height, width)`."""
    return image_to_array(open_image(source, name), config, name or describe_source(source))


def normalize_batch(batch: torch.Tensor, config: PreprocessingConfig) -> torch.Tensor:
    """Turns a `uint8` image batch into the normalised float batch the encoder takes.

    Float batches (vectors, or images already scaled) pass through with only the mean/std applied.
    """
    batch = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()
    if config.mean != 0.0 or config.std != 1.0:
        batch = (batch - config.mean) / config.std
    return batch
