"""8-bit encoders for ONNX Runtime: static quantisation calibrated on the user's own images.

`quantize_encoder` turns a float32 `encoder.onnx` into one whose convolutions and matrix products run on 8-bit
integers (ONNX Runtime's `quantize_static`, QDQ format, weights int8 per output channel, activations uint8 with
ranges measured on calibration images). A convolution-heavy encoder's graph is about 4 times smaller and runs
faster on CPUs (dlib's face ResNet: 1.6x on one thread, 1.1x on two); a small network through test-time views
can get larger and slower, so measure before shipping (`siamkit evaluate --onnx`). Embeddings drift slightly
from the float32 network's: how far is measured on images the ranges were not fitted on, and an encoder that
drifts more than `QuantizationConfig.min_cosine` is refused.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamkit.data.decoding import load_image_arrays
from siamkit.data.image_folder import scan_image_folder
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.errors import ConfigError, SiamkitError

logger = logging.getLogger(__name__)

# Images per batch, to calibrate and to check the drift.
_BATCH = 16
# Fewer calibration images than this give activation ranges nobody should ship.
MIN_CALIBRATION_IMAGES = 8


class QuantizationError(SiamkitError):
    """The 8-bit encoder could not be made, or it drifts too far from the float32 one."""


@dataclass
class QuantizationConfig:
    """How `export_onnx` makes 8-bit encoders.

    Attributes:
        calibration_data: An image folder or zip (one folder per class, as for training) whose images set the
            activation ranges; images like those the model will see, decoded with the bundle's preprocessing.
        max_images: Images drawn from it (at random, fixed by `seed`): two in three set the ranges, the third
            checks the drift.
        min_cosine: The lowest cosine similarity allowed between an image's float32 and 8-bit embeddings.
        seed: Seeds the draw of images.
    """

    calibration_data: str | Path
    max_images: int = 300
    min_cosine: float = 0.98
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_images < MIN_CALIBRATION_IMAGES:
            raise ConfigError(f"max_images must be at least {MIN_CALIBRATION_IMAGES}, got {self.max_images}")
        if not 0.0 < self.min_cosine <= 1.0:
            raise ConfigError(f"min_cosine must be in (0, 1], got {self.min_cosine}")


@dataclass
class QuantizationCheck:
    """How far the 8-bit encoder's embeddings are from the float32 encoder's, on held-back images.

    Attributes:
        n_calibration_images: Images that set the activation ranges.
        n_check_images: Other images the two encoders were compared on.
        worst_cosine: The lowest cosine similarity between an image's two embeddings.
        mean_cosine: The mean of those cosine similarities.
        mean_relative_error: Mean of `|int8 - float32| / |float32|` (Euclidean norms) over the check images.
    """

    n_calibration_images: int
    n_check_images: int
    worst_cosine: float
    mean_cosine: float
    mean_relative_error: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_calibration_images(config: QuantizationConfig, preprocessing: PreprocessingConfig) -> np.ndarray:
    """Draws up to `max_images` images of the calibration data and prepares them as the encoder's input."""
    if preprocessing.kind != "image":
        raise ConfigError("int8 quantisation needs an image model; this bundle reads vectors")
    index = scan_image_folder(config.calibration_data, min_images_per_class=1)
    if len(index) < MIN_CALIBRATION_IMAGES:
        raise ConfigError(
            f"{index.root}: {len(index)} image(s); int8 calibration needs at least {MIN_CALIBRATION_IMAGES}"
        )
    chosen = np.random.default_rng(config.seed).permutation(len(index))[: config.max_images]
    chosen.sort()  # decode in the folder's order: zip members are read sequentially
    return load_image_arrays(
        [index.sources[i] for i in chosen], preprocessing, [index.paths[i] for i in chosen], workers=1
    )


def quantize_encoder(
    float_graph: Path, output: Path, images: np.ndarray, input_name: str, config: QuantizationConfig, session: Any
) -> QuantizationCheck:
    """Writes the 8-bit version of `float_graph` to `output` and measures its drift.

    Args:
        float_graph: The float32 encoder graph (`export_onnx` has checked it against PyTorch).
        output: Where the 8-bit graph goes.
        images: Prepared uint8 images; every third is held back to check the drift, the rest set the ranges.
        input_name: The graph's input name.
        config: The quantisation settings (`min_cosine` is enforced here).
        session: A callable `session(path) -> onnxruntime.InferenceSession`.

    Raises:
        QuantizationError: ONNX Runtime could not quantise the graph, or the embeddings drift too far.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    check_mask = np.arange(len(images)) % 3 == 2
    calibration, check = images[~check_mask], images[check_mask]

    class _Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[dict[str, np.ndarray]] = (
                {input_name: calibration[start : start + _BATCH]} for start in range(0, len(calibration), _BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    with tempfile.TemporaryDirectory(prefix="siamkit-quantize-") as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        try:
            # Folds constants and infers shapes first, as ONNX Runtime recommends before static quantisation.
            quant_pre_process(str(float_graph), str(prepared), skip_symbolic_shape=True)
            quantize_static(
                str(prepared),
                str(output),
                _Batches(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                # 7-bit weights: CPUs without VNNI (AVX2) multiply uint8 by int8 with a 16-bit intermediate
                # that saturates on 8-bit weights; a ResNet's embeddings then drift to cosines near 0.7.
                reduce_range=True,
                # Not CalibMaxIntermediateOutputs: in ONNX Runtime 1.32 it discards the collected ranges.
                # Calibrating the shipped signature ensemble (40 networks through views) passed 15 GB with 200
                # images where 60 worked, for a reason not pinned down: keep `max_images` small for such models.
            )
        except Exception as error:  # ONNX Runtime's quantiser raises many types; the first line says what failed
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise QuantizationError(f"could not quantise {float_graph.name} to int8: {first_line}") from error
    expected = _embed(session(float_graph), input_name, check)
    actual = _embed(session(output), input_name, check)
    result = _drift(expected, actual, len(calibration))
    logger.info("int8 %s: worst cosine %.4f over %d images", float_graph.name, result.worst_cosine, len(check))
    if not result.worst_cosine >= config.min_cosine:
        raise QuantizationError(
            f"the int8 {float_graph.stem} drifts too far from float32: worst cosine {result.worst_cosine:.6f} over "
            f"{result.n_check_images} images (at least {config.min_cosine} required); calibrate on more images, "
            "or export in float32"
        )
    return result


def _embed(session: Any, input_name: str, images: np.ndarray) -> np.ndarray:
    batches = [
        session.run(None, {input_name: images[start : start + _BATCH]})[0] for start in range(0, len(images), _BATCH)
    ]
    return np.concatenate(batches).astype(np.float64)


def _drift(expected: np.ndarray, actual: np.ndarray, n_calibration: int) -> QuantizationCheck:
    """Cosine similarity and relative error between each image's float32 and int8 embeddings."""
    expected_norms = np.linalg.norm(expected, axis=1)
    actual_norms = np.linalg.norm(actual, axis=1)
    tiny = np.finfo(np.float64).tiny
    cosines = np.sum(expected * actual, axis=1) / np.maximum(expected_norms * actual_norms, tiny)
    relative = np.linalg.norm(actual - expected, axis=1) / np.maximum(expected_norms, tiny)
    return QuantizationCheck(
        n_calibration_images=n_calibration,
        n_check_images=len(expected),
        worst_cosine=float(cosines.min()),
        mean_cosine=float(cosines.mean()),
        mean_relative_error=float(relative.mean()),
    )
