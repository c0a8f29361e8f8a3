"""Exporting a bundle to ONNX, so that it can be served by ONNX Runtime (or any ONNX engine) without PyTorch.

`export_onnx` writes a folder:

    encoder.onnx          images (uint8, N x C x H x W) or vectors (float32, N x L) -> embeddings (float32, N x D).
                          Pixel scaling, mean/std and L2 normalisation are inside the graph, so its input is
                          exactly what `siamkit.data.preprocessing.load_image_array` returns.
    second_encoder.onnx   the second branch of a half-twin (same contract).
    comparison.onnx       first, second (float32, N x D) -> scores (float32, N): the score users see, which the
                          threshold applies to (a distance, a cosine or a same-probability).
    siamkit-onnx.json     the manifest: the preprocessing that happens before the graph (decoding, cropping,
                          resizing, ...), the decision threshold, calibration and how they were chosen, the source
                          bundle's fingerprint, and the largest differences from PyTorch measured at export.

Every graph takes any batch size. The export is checked before anything is written: each graph is run by ONNX
Runtime on random inputs of two batch sizes and compared with PyTorch; a larger difference than the tolerance
is an error and leaves nothing behind (the folder is written atomically). With a `QuantizationConfig`, the
encoders are then made 8-bit (see `siamkit.export.quantization`) and checked on the user's images instead. The
manifest holds every graph's SHA-256, so a graph replaced after the export is refused when it is loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from siamkit.atomic import atomic_directory, write_text_atomic
from siamkit.data.preprocessing import PreprocessingConfig, normalize_batch
from siamkit.errors import ConfigError, SiamkitError
from siamkit.export.quantization import QuantizationConfig, load_calibration_images, quantize_encoder
from siamkit.model import SiameseModel
from siamkit.network import SiameseNetwork

logger = logging.getLogger(__name__)

ONNX_FORMAT = "siamkit-onnx"
ONNX_FORMAT_VERSION = 1
MANIFEST_FILE = "siamkit-onnx.json"
ENCODER_FILE = "encoder.onnx"
SECOND_ENCODER_FILE = "second_encoder.onnx"
COMPARISON_FILE = "comparison.onnx"

# Batch sizes the exported graphs are checked at: one, and more than the example the exporter traced with.
CHECK_BATCH_SIZES = (1, 5)
# The batch size the exporter traces with; 0 and 1 would be specialised into the graph as constants.
_TRACE_BATCH = 2
# Allowed difference from PyTorch, relative to the output's largest magnitude (at least 1): float32 kernels
# of two engines differ around 1e-6 in practice.
DEFAULT_TOLERANCE = 1e-4


class ExportError(SiamkitError):
    """The network could not be exported, or the exported graph does not compute what the network does."""


@dataclass
class OnnxExport:
    """What `export_onnx` wrote.

    Attributes:
        folder: The export folder.
        files: The graph files written, by role (`encoder`, `second_encoder`, `comparison`).
        max_abs_differences: The largest difference from PyTorch of each graph's output at export (of the
            float32 graph, for an encoder quantised afterwards).
        opset: The ONNX opset of the graphs.
        quantization: For each 8-bit encoder, its drift from float32 on held-back calibration images.
    """

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    max_abs_differences: dict[str, float] = field(default_factory=dict)
    opset: int = 0
    quantization: dict[str, Any] = field(default_factory=dict)


class _EmbeddingGraph(nn.Module):
    """One branch of the network, from the prepared input batch to the embedding the comparison reads."""

    def __init__(self, network: SiameseNetwork, preprocessing: PreprocessingConfig, branch: int) -> None:
        super().__init__()
        self.network = network
        self.preprocessing = preprocessing
        self.branch = branch

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.network.embed(normalize_batch(inputs, self.preprocessing), self.branch)


class _ScoreGraph(nn.Module):
    """The comparison, row by row, ending in the score users threshold."""

    def __init__(self, network: SiameseNetwork) -> None:
        super().__init__()
        self.comparison = network.comparison

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.comparison.to_score(self.comparison(first, second))


def import_onnx_runtime() -> Any:
    """ONNX Runtime, after checking that the exporter's packages are installed (the `onnx` extra)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            f"ONNX export needs onnx, onnxscript and onnxruntime ({error.name} is missing): pip install 'siamkit[onnx]'"
        ) from None
    return onnxruntime


def random_inputs(
    preprocessing: PreprocessingConfig,
    input_shape: tuple[int, ...],
    count: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random inputs of the kind an encoder takes after preprocessing: uint8 images, or float32 vectors."""
    if preprocessing.kind == "vector":
        return torch.randn(count, *input_shape, generator=generator)
    return torch.randint(0, 256, (count, *input_shape), dtype=torch.uint8, generator=generator)


def _export_graph(
    module: nn.Module, examples: tuple[torch.Tensor, ...], names: list[str], output_name: str, path: Path
) -> None:
    """Writes one graph with a dynamic batch axis on every input and output, as a single file."""
    batch = torch.export.Dim("batch", min=1)
    dynamic_shapes = tuple({0: batch} for _ in examples)
    # The exporter reports its progress with print() and warns about its internals (such as torchvision's
    # operators it cannot register); none of that is for users.
    exporter_logger = logging.getLogger("torch.onnx")
    level = exporter_logger.level
    exporter_logger.setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module,
                examples,
                str(path),
                input_names=names,
                output_names=[output_name],
                dynamic_shapes=dynamic_shapes,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        except Exception as error:  # the exporter raises many types; the user needs the first line of any
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ExportError(f"could not export the {path.stem} to ONNX: {first_line}") from error
        finally:
            exporter_logger.setLevel(level)


def _largest_difference(expected: torch.Tensor, actual: np.ndarray, role: str, tolerance: float) -> float:
    """The largest absolute difference, refused above `tolerance` times the output's scale."""
    reference = expected.detach().float().numpy()
    if actual.shape != reference.shape:
        raise ExportError(f"the exported {role} gives shape {actual.shape}, PyTorch {reference.shape}")
    difference = float(np.max(np.abs(actual - reference))) if reference.size else 0.0
    scale = max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
    if not np.isfinite(difference) or difference > tolerance * scale:
        raise ExportError(
            f"the exported {role} differs from PyTorch by {difference:.3g} (allowed {tolerance * scale:.3g}); "
            "an operator is exported with other semantics"
        )
    return difference


def create_session(onnxruntime: Any, path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU that logs errors only; `threads` None lets it use every core."""
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check_export_target(output: Path, source: Path | None) -> None:
    """Refuses to replace anything but an earlier export (a bundle, or an unrelated folder, would be lost)."""
    if source is not None and output.resolve() == source.resolve():
        raise ConfigError(f"{output}: the export would replace the bundle itself; choose another --output")
    if output.exists() and not (output.is_dir() and (output / MANIFEST_FILE).is_file()):
        raise ConfigError(f"{output}: exists and is not an ONNX export (no {MANIFEST_FILE}); choose another --output")


def export_onnx(
    model: SiameseModel,
    output: str | Path,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    quantization: QuantizationConfig | None = None,
) -> OnnxExport:
    """Writes the model's encoder(s) and comparison as ONNX graphs with a manifest (see the module docstring).

    Args:
        model: The model to export (its network is exported in float32, in eval mode, on the CPU).
        output: The folder to write; an earlier export there is replaced, anything else is refused.
        tolerance: The largest allowed difference from PyTorch, relative to each output's largest magnitude.
        seed: Seeds the random inputs the graphs are checked on.
        quantization: Make the encoders 8-bit, calibrated on these images (None: float32 throughout).

    Raises:
        ConfigError: The ONNX packages are missing, `output` holds something other than an export, or the
            calibration data cannot be used.
        ExportError: A graph could not be exported or does not match PyTorch.
        QuantizationError: An encoder could not be quantised, or drifts too far from float32.
    """
    onnxruntime = import_onnx_runtime()
    target = Path(output)
    _check_export_target(target, model.path)
    quantize = None
    if quantization is not None:  # read the images before exporting anything: bad data fails fast
        quantize = (quantization, load_calibration_images(quantization, model.preprocessing))
    network = model.network.float().cpu().eval()
    preprocessing = model.preprocessing
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return _write_export(model, network, preprocessing, target, tolerance, onnxruntime, quantize)
    finally:
        torch.random.set_rng_state(generator_state)
        model.network.to(model.device)


def _write_export(
    model: SiameseModel,
    network: SiameseNetwork,
    preprocessing: PreprocessingConfig,
    target: Path,
    tolerance: float,
    onnxruntime: Any,
    quantize: tuple[QuantizationConfig, np.ndarray] | None,
) -> OnnxExport:
    input_name = "vectors" if preprocessing.kind == "vector" else "images"
    input_type = "float32" if preprocessing.kind == "vector" else "uint8"
    branches = [("encoder", ENCODER_FILE, 0)]
    if network.is_half_twin:
        branches.append(("second_encoder", SECOND_ENCODER_FILE, 1))
    result = OnnxExport(folder=target)
    graphs: dict[str, dict[str, Any]] = {}
    with atomic_directory(target) as staging, torch.no_grad():
        embeddings: list[torch.Tensor] = []
        for role, file_name, branch in branches:
            shape = _branch_input_shape(network, preprocessing, branch)
            graph = _EmbeddingGraph(network, preprocessing, branch).eval()

            def branch_inputs(count: int, shape: tuple[int, ...] = shape) -> dict[str, torch.Tensor]:
                return {input_name: random_inputs(preprocessing, shape, count)}

            result.max_abs_differences[role] = _export_checked(
                graph, branch_inputs, "embeddings", staging / file_name, role, tolerance, onnxruntime
            )
            result.files[role] = target / file_name
            embeddings.append(graph(*branch_inputs(max(CHECK_BATCH_SIZES)).values()))
            graphs[role] = {
                "file": file_name,
                "inputs": {input_name: {"dtype": input_type, "shape": ["batch", *shape]}},
                "outputs": {"embeddings": {"dtype": "float32", "shape": ["batch", embeddings[-1].shape[-1]]}},
            }
            if quantize is not None:
                result.quantization[role] = _quantize_in_place(
                    staging / file_name, shape, input_name, quantize, onnxruntime
                )
                graphs[role]["quantization"] = result.quantization[role]
        # Real embeddings of random inputs (unit vectors where the network normalises), paired off by a shift.
        first, second = embeddings[0], embeddings[-1].roll(1, dims=0)

        def pairs(count: int) -> dict[str, torch.Tensor]:
            return {"first": first[:count], "second": second[:count]}

        result.max_abs_differences["comparison"] = _export_checked(
            _ScoreGraph(network).eval(), pairs, "scores", staging / COMPARISON_FILE, "comparison", tolerance,
            onnxruntime,
        )  # fmt: skip
        result.files["comparison"] = target / COMPARISON_FILE
        graphs["comparison"] = {
            "file": COMPARISON_FILE,
            "inputs": {name: {"dtype": "float32", "shape": ["batch", first.shape[-1]]} for name in ("first", "second")},
            "outputs": {"scores": {"dtype": "float32", "shape": ["batch"]}},
        }
        result.opset = _opset(staging / ENCODER_FILE)
        for graph_entry in graphs.values():
            graph_entry["sha256"] = file_sha256(staging / graph_entry["file"])
        manifest = _manifest(model, graphs, result, tolerance)
        write_text_atomic(staging / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    logger.info("exported %s to %s (opset %d)", model.path or "a model", target, result.opset)
    return result


def _quantize_in_place(
    path: Path,
    shape: tuple[int, ...],
    input_name: str,
    quantize: tuple[QuantizationConfig, np.ndarray],
    onnxruntime: Any,
) -> dict[str, Any]:
    """Replaces the float32 encoder at `path` by its 8-bit version; returns the manifest's account of it."""
    config, images = quantize
    if tuple(images.shape[1:]) != tuple(shape):
        raise ConfigError(
            f"int8 quantisation: the {path.stem} reads {tuple(shape)}, the calibration images are "
            f"{tuple(images.shape[1:])} (a half-twin whose branches read different inputs stays float32)"
        )
    quantized = path.with_name(f"{path.stem}.int8.onnx")
    check = quantize_encoder(
        path, quantized, images, input_name, config, lambda graph: create_session(onnxruntime, graph)
    )
    os.replace(quantized, path)
    return {
        "type": "int8 static, QDQ: weights int8 per output channel (7-bit range), activations uint8",
        "calibration_data": str(config.calibration_data),
        "min_cosine": config.min_cosine,
        "check": check.to_dict(),
    }


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file (read in chunks by `hashlib.file_digest`)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _export_checked(
    module: nn.Module,
    inputs_for: Callable[[int], dict[str, torch.Tensor]],
    output_name: str,
    path: Path,
    role: str,
    tolerance: float,
    onnxruntime: Any,
) -> float:
    """Exports `module` to `path`, runs it in ONNX Runtime at every check batch size against PyTorch, and
    returns the largest difference (an `ExportError` above the tolerance)."""
    example = inputs_for(_TRACE_BATCH)
    _export_graph(module, tuple(example.values()), list(example), output_name, path)
    session = create_session(onnxruntime, path)
    differences = []
    for count in CHECK_BATCH_SIZES:
        inputs = inputs_for(count)
        expected = module(*inputs.values())
        actual = session.run(None, {name: tensor.numpy() for name, tensor in inputs.items()})[0]
        differences.append(_largest_difference(expected, actual, role, tolerance))
    return max(differences)


def _branch_input_shape(network: SiameseNetwork, preprocessing: PreprocessingConfig, branch: int) -> tuple[int, ...]:
    """What one branch reads: the second encoder of a half-twin may take another shape than the first."""
    config = network.config
    if config is None:
        return preprocessing.input_shape
    encoder = (config.second_encoder or config.encoder) if branch == 1 else config.encoder
    return tuple(int(side) for side in encoder.input_shape)


def _opset(path: Path) -> int:
    import onnx

    graph = onnx.load(str(path), load_external_data=False)
    return max((entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")), default=0)


def _manifest(model: SiameseModel, graphs: dict[str, Any], result: OnnxExport, tolerance: float) -> dict[str, Any]:
    import onnx
    import onnxruntime

    from siamkit import __version__

    comparison = model.network.comparison
    relation = ">=" if comparison.higher_is_more_similar else "<="
    same_when = None if model.threshold is None else f"score {relation} threshold"
    comparison_config = model.network.config.comparison.to_dict() if model.network.config else None
    return {
        "format": ONNX_FORMAT,
        "format_version": ONNX_FORMAT_VERSION,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {
            "bundle": str(model.path) if model.path else None,
            "fingerprint": model.fingerprint,
            "siamkit_version": __version__,
            "torch_version": torch.__version__,
            "onnx_version": onnx.__version__,
            "onnxruntime_version": onnxruntime.__version__,
        },
        "opset": result.opset,
        "graphs": graphs,
        "preprocessing": model.preprocessing.to_dict(),
        "before_the_graph": (
            "decode each image and apply `preprocessing` as siamkit.data.preprocessing.load_image_array does "
            "(grey or RGB, crop, pad, resize, invert, ...) to a uint8 (C, H, W) array; pixel scaling, mean/std "
            "and L2 normalisation are inside encoder.onnx"
            if model.preprocessing.kind == "image"
            else "float32 vectors of length preprocessing.vector_length; mean/std are inside encoder.onnx"
        ),
        "comparison": {
            "config": comparison_config,
            "higher_is_more_similar": bool(comparison.higher_is_more_similar),
            "normalize_embeddings": bool(model.network.normalize_embeddings),
        },
        "decision": {
            "threshold": model.threshold,
            "same_when": same_when,
            "calibration": model.calibration,
            "provenance": model.threshold_provenance,
        },
        "quantization": (
            {role: entry["type"] for role, entry in result.quantization.items()} if result.quantization else None
        ),
        "check": {
            "tolerance": tolerance,
            "batch_sizes": list(CHECK_BATCH_SIZES),
            "max_abs_difference_from_pytorch": result.max_abs_differences,
        },
    }
