"""`SiameseModel`: a trained network with its preprocessing and decision rule, the library's main API.

model = siamkit.load("models/omniglot")
embeddings = model.embed(["a.png", "b.png"])
result = model.verify("a.png", "b.png")          # result.same, result.score, result.threshold
guess = model.classify_one_shot("query.png", {"alpha": "a.png", "beta": "b.png"})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from siamkit.bundle import compute_fingerprint, load_bundle, network_state, save_bundle
from siamkit.data.preprocessing import ImageSource, PreprocessingConfig, load_image_array, normalize_batch
from siamkit.errors import BundleError, ConfigError, DataError
from siamkit.network import SiameseNetwork

if TYPE_CHECKING:
    from siamkit.export import OnnxModel

Inputs = ImageSource | Sequence[ImageSource] | torch.Tensor | np.ndarray


@dataclass
class VerificationResult:
    """The answer to "are these two the same?".

    Attributes:
        same: The decision at `threshold`.
        score: The comparison's score (a distance, or a same-probability for learned heads).
        threshold: The decision threshold used.
        probability: Calibrated probability of "same", when the bundle has a calibration.
        higher_is_more_similar: How to read `score` against `threshold`.
    """

    same: bool
    score: float
    threshold: float
    probability: float | None = None
    higher_is_more_similar: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "score": self.score,
            "threshold": self.threshold,
            "probability": self.probability,
            "higher_is_more_similar": self.higher_is_more_similar,
        }


@dataclass
class OneShotResult:
    """The answer to "which of these is it?": the best support's label and every support's score."""

    label: str
    index: int
    scores: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "index": self.index, "scores": self.scores, "labels": self.labels}


@torch.no_grad()
def embed_prepared(
    network: SiameseNetwork,
    inputs: torch.Tensor,
    preprocessing: PreprocessingConfig,
    device: torch.device,
    batch_size: int = 256,
    branch: int = 0,
) -> torch.Tensor:
    """Embeds already-decoded inputs (`uint8` images or float vectors) in batches, in eval mode.

    Returns float32 embeddings on the CPU. The network's train/eval mode is restored afterwards, so the
    training loop can call this for validation.
    """
    was_training = network.training
    network.eval()
    outputs = []
    try:
        for start in range(0, inputs.shape[0], batch_size):
            chunk = normalize_batch(inputs[start : start + batch_size].to(device), preprocessing)
            if chunk.ndim == 4:  # convolutions run 1.6-1.9x faster on CPUs in this layout
                chunk = chunk.contiguous(memory_format=torch.channels_last)
            outputs.append(network.embed(chunk, branch).float().cpu())
    finally:
        network.train(was_training)
    if not outputs:
        return torch.zeros(0, 0)
    return torch.cat(outputs)


def support_set(
    support_examples: Mapping[str, ImageSource] | Sequence[ImageSource],
) -> tuple[list[str], list[ImageSource]]:
    """The labels and examples of a one-shot support set: `{label: example}`, or a list labelled by index."""
    if isinstance(support_examples, Mapping):
        labels = [str(label) for label in support_examples]
        sources = list(support_examples.values())
    else:
        sources = list(support_examples)
        labels = [str(index) for index in range(len(sources))]
    if not sources:
        raise DataError("classify_one_shot needs at least one support example")
    return labels, sources


class DecisionRule:
    """What a model does with a pair's score: its threshold decides, its calibration gives a probability.

    Shared by `SiameseModel` and the ONNX Runtime `siamkit.export.OnnxModel`, so both decide alike.

    Attributes:
        threshold: Decision threshold on the score (None until calibrated).
        calibration: Serialised score-to-probability map (see `siamkit.evaluation.calibration`), or None.
    """

    threshold: float | None = None
    calibration: dict[str, Any] | None = None

    @property
    def higher_is_more_similar(self) -> bool:
        """True when larger scores mean more alike (similarities, probabilities), False for distances."""
        raise NotImplementedError

    def similarity_from_score(self, scores: torch.Tensor | np.ndarray) -> np.ndarray:
        """Scores turned so that larger always means more alike (for calibration and ROC)."""
        values = np.asarray(scores, dtype=np.float64)
        return values if self.higher_is_more_similar else -values

    def probability(self, scores: torch.Tensor | np.ndarray) -> np.ndarray | None:
        """Calibrated probabilities of "same" for scores, or None without a calibration."""
        if self.calibration is None:
            return None
        from siamkit.evaluation.calibration import calibration_from_dict

        return calibration_from_dict(self.calibration).probability(self.similarity_from_score(scores))

    def decide(self, score: float) -> bool:
        """Applies the threshold to one score."""
        if self.threshold is None:
            raise ConfigError("this model has no decision threshold yet; run `siamkit calibrate` first")
        return score >= self.threshold if self.higher_is_more_similar else score <= self.threshold

    def verification_result(self, score: float) -> VerificationResult:
        """The decision on one pair's score, with the threshold and (when calibrated) the probability."""
        probability = self.probability(np.array([score]))
        return VerificationResult(
            same=self.decide(score),
            score=score,
            threshold=float(self.threshold),  # type: ignore[arg-type]
            probability=None if probability is None else float(probability[0]),
            higher_is_more_similar=self.higher_is_more_similar,
        )


class SiameseModel(DecisionRule):
    """A Siamese network ready for inference: preprocessing, embedding, scoring and deciding.

    Args:
        network: The trained network.
        preprocessing: How raw inputs become encoder inputs; stored with the model.
        threshold: Decision threshold on the score (None until calibrated or trained).
        calibration: Serialised score-to-probability map (see `siamkit.evaluation.calibration`).
        metadata: Free-form training metadata saved in the bundle.
        threshold_provenance: How the threshold was chosen (`siamkit.bundle.threshold_provenance`), saved
            beside it; None when unknown.
        device: Where to run the network.
    """

    def __init__(
        self,
        network: SiameseNetwork,
        preprocessing: PreprocessingConfig,
        threshold: float | None = None,
        calibration: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        threshold_provenance: dict[str, Any] | None = None,
    ) -> None:
        self.network = network.to(device).eval()
        self.preprocessing = preprocessing
        self.threshold = threshold
        self.calibration = calibration
        self.metadata = dict(metadata or {})
        self.threshold_provenance = threshold_provenance
        self.device = torch.device(device)
        self.onnx_export: OnnxModel | None = None

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> SiameseModel:
        """Loads a bundle folder written by `save`, checking its fingerprint."""
        network, preprocessing, config = load_bundle(path)
        decision = config.get("decision") or {}
        model = cls(
            network,
            preprocessing,
            threshold=decision.get("threshold"),
            calibration=decision.get("calibration"),
            metadata=config.get("metadata"),
            device=device,
            threshold_provenance=decision.get("provenance"),
        )
        model.path = Path(path)
        return model

    path: Path | None = None

    def save(self, path: str | Path, half_precision: bool = False) -> str:
        """Writes the bundle atomically; returns its fingerprint.

        Args:
            half_precision: Store the weights as float16 (see `siamkit.bundle.save_bundle`).
        """
        fingerprint = save_bundle(
            path, self.network, self.preprocessing, self.threshold, self.calibration, self.metadata, half_precision,
            self.threshold_provenance,
        )  # fmt: skip
        self.path = Path(path)
        return fingerprint

    @property
    def fingerprint(self) -> str:
        """Identifies the weights and preprocessing: equal fingerprints embed identically."""
        return compute_fingerprint(network_state(self.network), self.preprocessing)

    @property
    def higher_is_more_similar(self) -> bool:
        return self.network.comparison.higher_is_more_similar

    def prepare(self, inputs: Inputs) -> torch.Tensor:
        """Preprocesses inputs to the batch the encoder expects (`uint8` images or float vectors).

        Accepts one image source or a list of them (paths, bytes, PIL images, `(H, W[, C])` arrays), a
        ready `(N, C, H, W)` tensor, or for vector models an `(N, L)` array / tensor or one `(L,)` vector.
        """
        config = self.preprocessing
        if config.kind == "vector":
            array = np.asarray(inputs.cpu() if isinstance(inputs, torch.Tensor) else inputs, dtype=np.float32)
            if array.ndim == 1:
                array = array[None]
            if array.ndim != 2 or array.shape[1] != config.vector_length:
                raise DataError(f"vectors must have shape (N, {config.vector_length}), got {array.shape}")
            if not np.isfinite(array).all():
                raise DataError("vectors contain NaN or infinite values")
            return torch.from_numpy(array)
        if isinstance(inputs, torch.Tensor):
            if inputs.ndim != 4 or tuple(inputs.shape[1:]) != config.input_shape:
                raise DataError(f"image tensor must have shape (N, *{config.input_shape}), got {tuple(inputs.shape)}")
            return inputs
        sources: list[ImageSource] = (
            [inputs]
            if isinstance(inputs, str | Path | bytes | np.ndarray) or not isinstance(inputs, Sequence)
            else list(inputs)  # type: ignore[arg-type]
        )
        if len(sources) == 0:
            raise DataError("no images were given")
        arrays = [load_image_array(source, config) for source in sources]
        return torch.from_numpy(np.stack(arrays))

    def embed(self, inputs: Inputs, batch_size: int = 256, branch: int = 0) -> torch.Tensor:
        """Embeddings `(N, D)` (float32, on the CPU) of the inputs, in order."""
        prepared = self.prepare(inputs)
        if self.onnx_export is not None:
            chunks = [self.onnx_export.embed(chunk.numpy(), branch) for chunk in prepared.split(batch_size)]
            return torch.from_numpy(np.concatenate(chunks))
        return embed_prepared(self.network, prepared, self.preprocessing, self.device, batch_size, branch)

    def use_onnx_export(self, folder: str | Path, threads: int | None = None) -> None:
        """Embeds with ONNX Runtime from now on, through an ONNX export of this very bundle (`siamkit export`).

        The export was checked against this network when it was written, so embeddings, scores and decisions
        stay the bundle's (to about 1e-6) at ONNX Runtime's speed; the comparison still runs here. An 8-bit
        export (`siamkit export --int8-calibration`) is accepted too: its embeddings drift from these by the
        amount its manifest records, and whether it is faster depends on the network (measure it).

        Args:
            folder: The folder `siamkit export` wrote from this bundle.
            threads: ONNX Runtime's intra-op threads; None uses every core.

        Raises:
            BundleError: The folder is not a readable export, or it was exported from other weights or
                preprocessing (its fingerprint differs).
        """
        from siamkit.export import OnnxModel
        from siamkit.export.onnx_export import DEFAULT_TOLERANCE, random_inputs

        exported = OnnxModel(folder, threads=threads)
        source = exported.manifest.get("source") or {}
        if source.get("fingerprint") != self.fingerprint:
            raise BundleError(
                f"{folder}: exported from another model (fingerprint {str(source.get('fingerprint'))[:12]}, this "
                f"bundle's {self.fingerprint[:12]}); export this bundle again with `siamkit export`"
            )
        if exported.is_quantized:
            # 8-bit embeddings differ from these by design; OnnxModel has checked each graph's SHA-256 against
            # the manifest, written when the export was checked on calibration images.
            self.onnx_export = exported
            return
        # The manifest names the bundle, but a graph file could have been replaced since: embed two random
        # inputs both ways before trusting it.
        probe = random_inputs(self.preprocessing, self.preprocessing.input_shape, 2, torch.Generator().manual_seed(0))
        for branch in (0, 1) if self.network.is_half_twin else (0,):
            expected = embed_prepared(self.network, probe, self.preprocessing, self.device, branch=branch).numpy()
            actual = exported.embed(probe.numpy(), branch)
            if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=0, atol=DEFAULT_TOLERANCE):
                raise BundleError(f"{folder}: its graphs do not embed as this bundle does; export the bundle again")
        self.onnx_export = exported

    @torch.no_grad()
    def score_embeddings(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """User-facing scores for row-aligned embedding pairs."""
        comparison = self.network.comparison
        raw = comparison(first.to(self.device), second.to(self.device))
        return comparison.to_score(raw).float().cpu()

    @torch.no_grad()
    def pairwise_scores(self, queries: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """User-facing scores of every query embedding against every reference embedding."""
        comparison = self.network.comparison
        raw = comparison.pairwise(queries.to(self.device), references.to(self.device))
        return comparison.to_score(raw).float().cpu()

    def verify(self, first: ImageSource, second: ImageSource) -> VerificationResult:
        """Decides whether two inputs show the same identity/class."""
        if self.network.is_half_twin:
            first_embedding = self.embed(first, branch=0)
            second_embedding = self.embed(second, branch=1)
        else:
            both = (
                self.embed([first, second])
                if self.preprocessing.kind == "image"
                else self.embed(np.stack([np.asarray(first, dtype=np.float32), np.asarray(second, dtype=np.float32)]))
            )
            first_embedding, second_embedding = both[:1], both[1:]
        return self.verification_result(float(self.score_embeddings(first_embedding, second_embedding)[0]))

    def classify_one_shot(
        self, query: ImageSource, support_examples: Mapping[str, ImageSource] | Sequence[ImageSource]
    ) -> OneShotResult:
        """Picks which support example the query matches best (one example per class).

        Args:
            query: The input to recognise.
            support_examples: `{label: example}`, or a list whose labels are its indices.
        """
        labels, sources = support_set(support_examples)
        query_embedding = self.embed([query])
        support_embeddings = self.embed(sources, branch=1 if self.network.is_half_twin else 0)
        scores = self.pairwise_scores(query_embedding, support_embeddings)[0]
        ranking = scores if self.higher_is_more_similar else -scores
        best = int(torch.argmax(ranking))
        return OneShotResult(label=labels[best], index=best, scores=scores.tolist(), labels=labels)


def load(path: str | Path, device: str | torch.device = "cpu") -> SiameseModel:
    """Loads a model bundle; see `SiameseModel.load`."""
    return SiameseModel.load(path, device)
