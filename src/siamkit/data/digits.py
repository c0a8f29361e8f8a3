"""scikit-learn's bundled handwritten digits as an `ImageDataset`: a tiny real data set that needs no download."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from siamkit.data.image_folder import ImageDataset
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import ConfigError

# sklearn's digits are 4-bit: pixel values run 0..16.
_DIGITS_MAXIMUM = 16.0


def load_digits_dataset(image_size: tuple[int, int] = (28, 28)) -> ImageDataset:
    """The 1,797 8x8 digits of `sklearn.datasets.load_digits`, scaled to `uint8` and upsampled (bilinear).

    The digits are already bright strokes on a zero background (like inverted scans), so the returned
    preprocessing has `invert=False`, `mean=0` and `std=1`: a normalised batch is in [0, 1] with background 0,
    which is also what `random_affine` fills with. Classes are "0".."9"; paths are "sklearn-digits/<index>".

    Args:
        image_size: `(height, width)` to upsample to (at least 8x8 makes sense; any positive size works).
    """
    height, width = int(image_size[0]), int(image_size[1])
    if height < 1 or width < 1:
        raise ConfigError(f"image_size must be positive, got {image_size}")
    from sklearn.datasets import load_digits  # scikit-learn takes ~1.5 s to import: only the demo needs it

    digits = load_digits()
    pixels = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) * (255.0 / _DIGITS_MAXIMUM)
    if (height, width) != tuple(pixels.shape[-2:]):
        pixels = F.interpolate(pixels, size=(height, width), mode="bilinear", align_corners=False)
    images = pixels.round_().clamp_(0, 255).to(torch.uint8)
    return ImageDataset(
        images=images,
        labels=torch.as_tensor(digits.target, dtype=torch.int64),
        class_names=[str(digit) for digit in range(10)],
        paths=[f"sklearn-digits/{index}" for index in range(len(digits.target))],
        preprocessing=PreprocessingConfig(kind="image", image_size=(height, width), channels=1, mean=0.0, std=1.0),
    )
