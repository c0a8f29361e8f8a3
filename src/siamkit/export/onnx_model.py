"""`OnnxModel`: an exported model run by ONNX Runtime, with the bundle's preprocessing and decision rule.

It answers what `SiameseModel` answers (embed, verify, one-shot) from a folder `export_onnx` wrote, and is how
an export is checked end to end against the bundle it came from. Decoding and resizing images still use
siamkit's preprocessing (`load_image_array`); the networks run in ONNX Runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siamkit.data.preprocessing import ImageSource, PreprocessingConfig, load_image_array
from siamkit.errors import BundleError, ConfigError, DataError
from siamkit.export.onnx_export import (
    MANIFEST_FILE,
    ONNX_FORMAT,
    ONNX_FORMAT_VERSION,
    create_session,
    file_sha256,
    import_onnx_runtime,
)
from siamkit.model import DecisionRule, OneShotResult, VerificationResult, support_set


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing; is {folder} a folder written by `siamkit export`?")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path}: unreadable ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ONNX_FORMAT:
        raise BundleError(f"{path}: not a siamkit ONNX manifest (format must be {ONNX_FORMAT!r})")
    if manifest.get("format_version") != ONNX_FORMAT_VERSION:
        raise BundleError(
            f"{path}: format_version {manifest.get('format_version')!r} is not {ONNX_FORMAT_VERSION}; "
            "export the bundle again with this siamkit"
        )
    for key in ("graphs", "preprocessing", "comparison", "decision"):
        if not isinstance(manifest.get(key), dict):
            raise BundleError(f"{path}: '{key}' is missing or not an object")
    if "encoder" not in manifest["graphs"] or "comparison" not in manifest["graphs"]:
        raise BundleError(f"{path}: graphs must name an encoder and a comparison")
    return manifest


def _check_digest(path: Path, graph: dict[str, Any], quantized: bool) -> None:
    """Refuses a graph file that is not the one exported (the manifest holds its SHA-256)."""
    expected = graph.get("sha256")
    if expected is None:
        if quantized:  # nothing else ties an 8-bit graph to its bundle: it cannot be compared with PyTorch
            raise BundleError(f"{path}: the manifest holds no sha256 for this int8 graph; export the bundle again")
        return
    if file_sha256(path) != expected:
        raise BundleError(f"{path}: changed since it was exported (its SHA-256 differs from the manifest's)")


class OnnxModel(DecisionRule):
    """An exported Siamese model: preprocessing in siamkit, networks in ONNX Runtime.

    Args:
        folder: A folder written by `siamkit.export.export_onnx` (`siamkit export`).
        threads: ONNX Runtime's intra-op threads; None lets it choose (all cores).
    """

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        onnxruntime = import_onnx_runtime()
        self.folder = Path(folder)
        self.manifest = _read_manifest(self.folder)
        try:
            self.preprocessing = PreprocessingConfig.from_dict(self.manifest["preprocessing"])
        except (ConfigError, TypeError) as error:
            raise BundleError(f"{self.folder / MANIFEST_FILE}: preprocessing: {error}") from None
        decision = self.manifest["decision"]
        self.threshold: float | None = decision.get("threshold")
        self.calibration: dict[str, Any] | None = decision.get("calibration")
        self._higher_is_more_similar = bool(self.manifest["comparison"].get("higher_is_more_similar"))
        self._sessions: dict[str, Any] = {}
        for role, graph in self.manifest["graphs"].items():
            name = graph.get("file") if isinstance(graph, dict) else None
            # A graph is a file of the export folder itself, never a path leading elsewhere.
            if not isinstance(name, str) or not name or Path(name).name != name:
                raise BundleError(
                    f"{self.folder / MANIFEST_FILE}: graphs.{role}.file must be a file name in the folder"
                )
            path = self.folder / name
            if not path.is_file():
                raise BundleError(f"{path}: missing; the export is incomplete")
            try:
                self._sessions[role] = create_session(onnxruntime, path, threads)
            except Exception as error:  # ONNX Runtime raises its own exception types for unreadable graphs
                raise BundleError(f"{path}: not a readable ONNX graph ({str(error).splitlines()[0]})") from None
            _check_digest(path, graph, quantized="quantization" in graph)

    @property
    def is_quantized(self) -> bool:
        """Whether any encoder runs in 8 bits (its embeddings then differ slightly from the bundle's)."""
        return any("quantization" in graph for graph in self.manifest["graphs"].values())

    @property
    def higher_is_more_similar(self) -> bool:
        return self._higher_is_more_similar

    @property
    def is_half_twin(self) -> bool:
        return "second_encoder" in self._sessions

    def prepare(self, inputs: ImageSource | Sequence[ImageSource] | np.ndarray) -> np.ndarray:
        """The encoder graph's input: uint8 `(N, C, H, W)` images, or float32 `(N, L)` vectors.

        Accepts what `SiameseModel.prepare` does, with a prepared `(N, C, H, W)` uint8 array in place of a tensor.
        """
        config = self.preprocessing
        if config.kind == "vector":
            array = np.asarray(inputs, dtype=np.float32)
            array = array[None] if array.ndim == 1 else array
            if array.ndim != 2 or array.shape[1] != config.vector_length:
                raise DataError(f"vectors must have shape (N, {config.vector_length}), got {array.shape}")
            return array
        if isinstance(inputs, np.ndarray) and inputs.ndim == 4:
            if inputs.dtype != np.uint8 or tuple(inputs.shape[1:]) != config.input_shape:
                raise DataError(
                    f"an image batch must be uint8 (N, *{config.input_shape}), got {inputs.dtype} {inputs.shape}"
                )
            return inputs
        sources: list[ImageSource] = (
            [inputs]
            if isinstance(inputs, str | Path | bytes | np.ndarray) or not isinstance(inputs, Sequence)
            else list(inputs)  # type: ignore[arg-type]
        )
        if not sources:
            raise DataError("no images were given")
        return np.stack([load_image_array(source, config) for source in sources])

    def embed(self, inputs: ImageSource | Sequence[ImageSource] | np.ndarray, branch: int = 0) -> np.ndarray:
        """Embeddings `(N, D)` of the inputs, in order (the second branch's encoder for `branch=1`)."""
        role = "second_encoder" if branch == 1 and self.is_half_twin else "encoder"
        batch = self.prepare(inputs)
        input_name = self._sessions[role].get_inputs()[0].name
        try:
            return np.asarray(self._sessions[role].run(None, {input_name: batch})[0])
        except Exception as error:  # e.g. an input shape the graph does not take
            raise DataError(f"the encoder graph refused the input ({str(error).splitlines()[0]})") from None

    def score_embeddings(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Scores of row-aligned embedding pairs, as the bundle scores them."""
        first = np.ascontiguousarray(first, dtype=np.float32)
        second = np.ascontiguousarray(second, dtype=np.float32)
        return np.asarray(self._sessions["comparison"].run(None, {"first": first, "second": second})[0])

    def verify(self, first: ImageSource, second: ImageSource) -> VerificationResult:
        """Decides whether two inputs show the same identity/class, as `SiameseModel.verify` does."""
        first_embedding = self.embed([first] if self.preprocessing.kind == "image" else first)
        second_embedding = self.embed([second] if self.preprocessing.kind == "image" else second, branch=1)
        return self.verification_result(float(self.score_embeddings(first_embedding, second_embedding)[0]))

    def classify_one_shot(
        self, query: ImageSource, support_examples: Mapping[str, ImageSource] | Sequence[ImageSource]
    ) -> OneShotResult:
        """Picks which support example the query matches best (one example per class)."""
        labels, sources = support_set(support_examples)
        supports = self.embed(sources, branch=1)
        queries = np.repeat(self.embed([query]), len(sources), axis=0)
        scores = self.score_embeddings(queries, supports)
        best = int(np.argmax(scores if self.higher_is_more_similar else -scores))
        return OneShotResult(label=labels[best], index=best, scores=scores.tolist(), labels=labels)
