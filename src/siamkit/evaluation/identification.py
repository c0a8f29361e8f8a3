"""Identification against a simulated gallery: closed-set ranks (CMC) and open-set errors (FNIR at FPIR).

`Gallery.identify` answers "who is this?": it ranks the enrolled identities by their best reference's score and
names the first when that score passes a threshold. This simulates it on a labelled folder, the way
identification is reported for face recognition (NIST FRVT's 1:N terms):

- a seeded share of the identities are strangers, never enrolled; every other identity is enrolled with K
  random references, and its remaining images are *mated* probes (someone enrolled);
- the strangers' images are *non-mated* probes; under the `signatures` protocol so are all skilled forgeries
  (a forger presenting a signature is not the writer, enrolled or not), and forgeries are never references;
- closed set: the CMC curve, the share of mated probes whose identity is among the first r ranked (rank 1 is
  identification accuracy);
- open set: FPIR, the share of non-mated probes named as someone, and FNIR, the share of mated probes not
  named as themselves (scored below the threshold, or out-ranked by another identity), at the bundle's
  threshold and at thresholds fitted to reach target FPIRs on these non-mated probes.

The draws are repeated (`draws`) with the same seed for reproducible numbers on small folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from siamkit.errors import ConfigError, DataError
from siamkit.evaluation.signature_protocol import genuine_mask
from siamkit.gallery.identification import fpir_threshold
from siamkit.model import SiameseModel

RANKS = (1, 5, 10)
TARGET_FPIRS = (0.1, 0.01)
_PROBES_PER_BLOCK = 1024


@dataclass(frozen=True)
class IdentificationTrials:
    """Scores of simulated identification probes (similarities: larger = more alike).

    Attributes:
        mated_ranks: Rank of each mated probe's own identity among the enrolled ones (1 = first; ties count
            against the probe).
        mated_scores: Each mated probe's best score over the enrolled identities.
        mated_named_right: Whether the first-ranked identity is the probe's own.
        non_mated_scores: Each non-mated probe's best score over the enrolled identities.
        enrolled: Identities enrolled in each draw.
        strangers: Identities held out in each draw.
        references: References per enrolled identity.
        draws: How many galleries were drawn (the probes of all of them are pooled).
    """

    mated_ranks: np.ndarray
    mated_scores: np.ndarray
    mated_named_right: np.ndarray
    non_mated_scores: np.ndarray
    enrolled: int
    strangers: int
    references: int = 1
    draws: int = 1

    def open_set_errors(self, threshold: float) -> tuple[float | None, float]:
        """(FPIR, FNIR) when an identity is named at a best score of at least `threshold` (similarity)."""
        fpir = float((self.non_mated_scores >= threshold).mean()) if self.non_mated_scores.size else None
        named = self.mated_named_right & (self.mated_scores >= threshold)
        return fpir, float(1.0 - named.mean())

    def error_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(FPIR, FNIR) at every distinct score taken as the threshold, for a DET-style plot."""
        thresholds = np.unique(np.concatenate([self.mated_scores, self.non_mated_scores]))
        non_mated = np.sort(self.non_mated_scores)
        fpir = 1.0 - np.searchsorted(non_mated, thresholds, side="left") / max(non_mated.size, 1)
        named = np.sort(self.mated_scores[self.mated_named_right])
        fnir = 1.0 - (named.size - np.searchsorted(named, thresholds, side="left")) / self.mated_scores.size
        return fpir, fnir


def check_identification_settings(reference_count: int, stranger_share: float, draws: int = 10) -> None:
    """Raises a ConfigError for settings no folder could satisfy; callers check before embedding anything."""
    if reference_count < 1:
        raise ConfigError(f"identification needs at least 1 reference per identity, got {reference_count}")
    if draws < 1:
        raise ConfigError(f"identification needs at least 1 draw of the gallery, got {draws}")
    if not 0.0 <= stranger_share < 1.0:
        raise ConfigError(f"the share of strangers must be at least 0 and below 1, got {stranger_share}")


def identification_trials(
    model: SiameseModel,
    embeddings: torch.Tensor,
    labels: np.ndarray,
    paths: list[str],
    protocol: str,
    reference_count: int,
    stranger_share: float = 0.5,
    draws: int = 10,
    seed: int = 0,
) -> IdentificationTrials:
    """Enrols random references of most identities, holds the rest out as strangers, and scores every probe.

    Identities with no image left over after `reference_count` references can only be strangers.

    Raises:
        ConfigError: A bad protocol, reference count, stranger share or draw count.
        DataError: Fewer than two identities can be enrolled.
    """
    if protocol not in ("classes", "signatures"):
        raise ConfigError(f"protocol must be 'classes' or 'signatures', got {protocol!r}")
    check_identification_settings(reference_count, stranger_share, draws)
    labels = np.asarray(labels)
    genuine = genuine_mask(paths, protocol)
    identities = np.unique(labels[genuine])
    enrollable = np.array([(genuine & (labels == identity)).sum() > reference_count for identity in identities])
    stranger_count = round(stranger_share * identities.size)
    if stranger_share > 0 and stranger_count == 0:
        stranger_count = 1
    # Identities too small to enrol are strangers first; the rest of the strangers come from the others.
    enrolled_count = int(enrollable.sum()) - max(0, stranger_count - int((~enrollable).sum()))
    if enrolled_count < 2:
        raise DataError(
            f"identification with {reference_count} references and {stranger_share:.0%} strangers needs two "
            f"identities left to enrol with more than {reference_count} images each; this folder has "
            f"{int(enrollable.sum())} such of {identities.size}"
        )
    generator = np.random.default_rng(seed)
    ranks, best_mated, right, best_non_mated = [], [], [], []
    for _ in range(draws):
        order = np.concatenate(
            [generator.permutation(identities[~enrollable]), generator.permutation(identities[enrollable])]
        )
        strangers, enrolled = order[:stranger_count], order[stranger_count:]
        enrolled = enrolled[np.isin(enrolled, identities[enrollable])]  # small identities beyond the strangers
        references, mated, mated_identity = [], [], []
        for position, identity in enumerate(enrolled):
            pool = generator.permutation(np.flatnonzero(genuine & (labels == identity)))
            references.append(pool[:reference_count])
            mated.append(pool[reference_count:])
            mated_identity.append(np.full(pool.size - reference_count, position))
        non_mated = np.flatnonzero(np.isin(labels, strangers) | ~genuine)
        reference_rows = np.concatenate(references)
        mated_rows, owner = np.concatenate(mated), np.concatenate(mated_identity)
        mated_similarities = _identity_similarities(model, embeddings, mated_rows, reference_rows, reference_count)
        own = mated_similarities[np.arange(owner.size), owner]
        rank = (mated_similarities >= own[:, None]).sum(axis=1)  # a tie with another identity counts against
        ranks.append(rank)
        best_mated.append(mated_similarities.max(axis=1))
        right.append(rank == 1)
        if non_mated.size:
            best_non_mated.append(
                _identity_similarities(model, embeddings, non_mated, reference_rows, reference_count).max(axis=1)
            )
    return IdentificationTrials(
        mated_ranks=np.concatenate(ranks),
        mated_scores=np.concatenate(best_mated),
        mated_named_right=np.concatenate(right),
        non_mated_scores=np.concatenate(best_non_mated) if best_non_mated else np.zeros(0),
        enrolled=enrolled_count,
        strangers=stranger_count,
        references=reference_count,
        draws=draws,
    )


def _identity_similarities(
    model: SiameseModel, embeddings: torch.Tensor, probes: np.ndarray, references: np.ndarray, per_identity: int
) -> np.ndarray:
    """`(probes, identities)` best-reference similarities; references come `per_identity` at a time.

    Probes are scored a block at a time, so a large folder never holds every probe-reference score at once.
    """
    gallery = embeddings[torch.as_tensor(references)]
    blocks = []
    for start in range(0, len(probes), _PROBES_PER_BLOCK):
        rows = torch.as_tensor(probes[start : start + _PROBES_PER_BLOCK])
        similarities = model.similarity_from_score(model.pairwise_scores(embeddings[rows], gallery))
        blocks.append(similarities.reshape(len(rows), -1, per_identity).max(axis=2))
    return np.concatenate(blocks)


def evaluate_identification(model: SiameseModel, trials: IdentificationTrials) -> dict[str, Any]:
    """Closed- and open-set identification rates of simulated galleries (`identification_trials`).

    Returns:
        A JSON-friendly dict: `references`, `enrolled`, `strangers`, `draws`, `n_mated`, `n_non_mated`,
        `rank_accuracy` at the ranks 1/5/10 that the gallery has, `cmc` for every rank, `fpir` and `fnir` at
        the bundle's threshold (None without one), and `fnir_at_fpir` rows with their threshold in score units
        (None where there are too few non-mated probes to measure that FPIR).
    """
    cmc = [float((trials.mated_ranks <= rank).mean()) for rank in range(1, trials.enrolled + 1)]
    result: dict[str, Any] = {
        "references": trials.references,
        "enrolled": trials.enrolled,
        "strangers": trials.strangers,
        "draws": trials.draws,
        "n_mated": int(trials.mated_scores.size),
        "n_non_mated": int(trials.non_mated_scores.size),
        "rank_accuracy": {str(rank): cmc[rank - 1] for rank in RANKS if rank <= trials.enrolled},
        "cmc": cmc,
        "fpir": None,
        "fnir": None,
        "fnir_at_fpir": [],
    }
    if model.threshold is not None:
        threshold = float(model.similarity_from_score(np.array([model.threshold]))[0])
        result["fpir"], result["fnir"] = trials.open_set_errors(threshold)
    for target in TARGET_FPIRS:
        row: dict[str, Any] = {"target_fpir": target, "threshold": None, "fpir": None, "fnir": None}
        if trials.non_mated_scores.size * target >= 1:
            limit = fpir_threshold(trials.non_mated_scores, target)
            row["threshold"] = float(model.similarity_from_score(np.array([limit]))[0])
            row["fpir"], row["fnir"] = trials.open_set_errors(limit)
        result["fnir_at_fpir"].append(row)
    return result
