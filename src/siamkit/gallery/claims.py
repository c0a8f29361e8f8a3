"""How one query is scored against the several references of a claimed identity.

A bundle's threshold and probability map are fitted on single pairs. A claim against K references needs one
score, and how the K pair scores are combined decides whether that threshold still means what it did:

- `mean`: the mean of the K pair scores. It stays on the pair scale (its expected value is a pair score's), so
  the bundle's threshold and probabilities keep their meaning, and the averaging only narrows both
  distributions: at the pair threshold, false accepts and false rejects both fall as K grows. The default.
- `best`: the best pair score (nearest reference). The most forgiving: each extra reference is another chance
  for an impostor to come close, so at the pair threshold false accepts grow with K (on held-out CEDAR
  writers, 10% with one reference, 26% with five, 33% with ten; docs/benchmarks.md "Thirteenth session"). Use
  it with a threshold calibrated for claims (`benchmarks/claim_verification.py`).
- `centroid`: the pair score against the references' mean embedding (unit length again when the model's
  embeddings are), as speaker verification enrols a voice. Among the best at telling apart, but its scale too
  moves with K and with how spread the references are, so it also needs a claim-calibrated threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from siamkit.errors import ConfigError
from siamkit.model import SiameseModel

CLAIM_SCORINGS = ("mean", "best", "centroid")


def check_claim_scoring(scoring: str) -> str:
    """Returns `scoring` when it names a claim scoring, else raises a ConfigError naming the choices."""
    if scoring not in CLAIM_SCORINGS:
        raise ConfigError(f"claim scoring must be one of {CLAIM_SCORINGS}, got {scoring!r}")
    return scoring


@dataclass(frozen=True)
class ClaimPolicy:
    """How a gallery decides claims by default; stored in the gallery file.

    Attributes:
        scoring: One of `CLAIM_SCORINGS`.
        threshold: A threshold calibrated for claims of this scoring (score units), used whenever a claim is
            scored this way without an explicit threshold; None uses the bundle's pair threshold, which only
            `mean` keeps valid.
    """

    scoring: str = "mean"
    threshold: float | None = None

    def __post_init__(self) -> None:
        check_claim_scoring(self.scoring)
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ConfigError(f"claim threshold must be a finite number, got {self.threshold!r}")

    def threshold_for(self, scoring: str) -> float | None:
        """The stored threshold when it was calibrated for `scoring`, else None (fall back to the bundle's)."""
        return self.threshold if scoring == self.scoring else None

    def to_settings(self) -> dict[str, str]:
        """The gallery-file settings rows (key, value) that store this policy."""
        return {
            "claim_scoring": self.scoring,
            "claim_threshold": "" if self.threshold is None else repr(self.threshold),
        }

    @classmethod
    def from_settings(cls, rows: dict[str, str]) -> ClaimPolicy:
        """Reads the rows written by `to_settings`; galleries written before claim policies get the default."""
        threshold = rows.get("claim_threshold", "")
        return cls(scoring=rows.get("claim_scoring", "mean"), threshold=float(threshold) if threshold else None)


def claim_scores(
    model: SiameseModel, queries: torch.Tensor | np.ndarray, references: torch.Tensor | np.ndarray, scoring: str
) -> np.ndarray:
    """The claim score of each query against one identity's references, in the model's score units.

    Args:
        model: The model whose comparison scores the pairs (its direction decides what "best" is).
        queries: `(Q, D)` query embeddings.
        references: `(K, D)` reference embeddings of the claimed identity, K at least 1.
        scoring: One of `CLAIM_SCORINGS` (see the module docstring).

    Returns:
        `(Q,)` float64 scores; with one reference every scoring gives the pair score.
    """
    check_claim_scoring(scoring)
    query_tensor = torch.as_tensor(np.asarray(queries, dtype=np.float32))
    reference_tensor = torch.as_tensor(np.asarray(references, dtype=np.float32))
    if reference_tensor.ndim != 2 or reference_tensor.shape[0] == 0:
        raise ConfigError(f"a claim needs (K, D) references with K >= 1, got shape {tuple(reference_tensor.shape)}")
    if scoring == "centroid":
        centroid = reference_tensor.mean(dim=0, keepdim=True)
        if model.network.normalize_embeddings:
            centroid = torch.nn.functional.normalize(centroid, dim=-1)
        return model.pairwise_scores(query_tensor, centroid)[:, 0].double().numpy()
    scores = model.pairwise_scores(query_tensor, reference_tensor).double()
    if scoring == "mean":
        return scores.mean(dim=1).numpy()
    best = scores.max(dim=1) if model.higher_is_more_similar else scores.min(dim=1)
    return best.values.numpy()
