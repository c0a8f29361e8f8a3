"""Data: reading image folders, zips, pair lists and vectors; preprocessing; sampling; augmentation."""

from siamkit.data.preprocessing import (
    IMAGE_SUFFIXES,
    PreprocessingConfig,
    load_image_array,
    normalize_batch,
    open_image,
)

__all__ = ["IMAGE_SUFFIXES", "PreprocessingConfig", "load_image_array", "normalize_batch", "open_image"]
