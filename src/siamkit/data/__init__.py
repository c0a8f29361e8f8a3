"""Data: reading image folders, zips, pair lists and vectors; preprocessing; sampling; augmentation."""

from siamkit.data.augmentation import (
    AugmentationConfig,
    augment_images,
    random_affine,
    random_erasing,
    random_stroke_thickening,
)
from siamkit.data.class_split import group_of
from siamkit.data.decoding import ZipMember, load_image_arrays
from siamkit.data.digits import load_digits_dataset
from siamkit.data.image_folder import ImageDataset, ImageFolderIndex, load_image_folder, scan_image_folder
from siamkit.data.pairs_csv import PairDataset, TripletDataset, read_pairs_csv, read_triplets_csv
from siamkit.data.preprocessing import (
    IMAGE_SUFFIXES,
    PreprocessingConfig,
    load_image_array,
    normalize_batch,
    open_image,
)
from siamkit.data.sampler import ClassBalancedSampler
from siamkit.data.vectors import VectorDataset, load_vectors, read_single_vector

__all__ = [
    "IMAGE_SUFFIXES",
    "AugmentationConfig",
    "ClassBalancedSampler",
    "ImageDataset",
    "ImageFolderIndex",
    "PairDataset",
    "PreprocessingConfig",
    "TripletDataset",
    "VectorDataset",
    "ZipMember",
    "augment_images",
    "group_of",
    "load_digits_dataset",
    "load_image_array",
    "load_image_arrays",
    "load_image_folder",
    "load_vectors",
    "normalize_batch",
    "open_image",
    "random_affine",
    "random_erasing",
    "random_stroke_thickening",
    "read_pairs_csv",
    "read_single_vector",
    "read_triplets_csv",
    "scan_image_folder",
]
