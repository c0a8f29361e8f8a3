"""Claims against enrolled references: the error rates of `Gallery.verify_claim` with K references per identity.

A pair evaluation says how well one image is compared with one other. A gallery compares a query with all the
references of the identity it claims, and how those scores are combined (`siamkit.gallery.claims`) moves both
how well claims are told apart and where their threshold has to sit. This simulates enrolment on a labelled
folder: for each identity, `draws` random sets of K references, then every other image of that identity as a
genuine claim and the impostors as false ones; under the `signatures` protocol the impostors are the writer's
forgeries (skilled forgeries claiming the writer), under `classes` every image of the other classes.
`calibrate_claims` picks a claim threshold on such claims, for a gallery's claim policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from siamkit.errors import ConfigError, DataError
from siamkit.evaluation.calibration import calibrate_threshold
from siamkit.evaluation.signature_protocol import genuine_mask
from siamkit.evaluation.verification import verification_metrics
from siamkit.gallery.claims import CLAIM_SCORINGS, claim_scores
from siamkit.model import SiameseModel


def claim_trials(
    model: SiameseModel,
    embeddings: torch.Tensor,
    labels: np.ndarray,
    paths: Sequence[str],
    protocol: str,
    reference_count: int,
    scoring: str,
    draws: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated claims with `reference_count` references each: their scores and 1 (genuine) / 0 labels.

    Identities with no image left over as a genuine claim after drawing the references are skipped. The same
    seed draws the same reference sets for every scoring, so scorings are compared on the same claims.

    Returns:
        `(scores, claim_labels)`: scores in the model's score units, labels 1 for genuine claims.

    Raises:
        DataError: When no identity has more than `reference_count` usable reference images.
    """
    if protocol not in ("classes", "signatures"):
        raise ConfigError(f"protocol must be 'classes' or 'signatures', got {protocol!r}")
    if reference_count < 1 or draws < 1:
        raise DataError(f"claims need at least 1 reference and 1 draw, got {reference_count} and {draws}")
    labels = np.asarray(labels)
    genuine = genuine_mask(paths, protocol)
    vectors = embeddings.float().numpy()
    generator = np.random.default_rng(seed)
    scores: list[np.ndarray] = []
    claim_labels: list[np.ndarray] = []
    for identity in np.unique(labels):
        pool = np.flatnonzero((labels == identity) & genuine)
        if pool.size <= reference_count:
            continue
        if protocol == "signatures":
            impostors = np.flatnonzero((labels == identity) & ~genuine)
        else:
            impostors = np.flatnonzero(labels != identity)
        for _ in range(draws):
            references = generator.choice(pool, reference_count, replace=False)
            queries = np.concatenate([np.setdiff1d(pool, references), impostors])
            scores.append(claim_scores(model, vectors[queries], vectors[references], scoring))
            claim_labels.append(np.isin(queries, pool).astype(np.int64))
    if not scores:
        raise DataError(
            f"claims with {reference_count} references need an identity with at least {reference_count + 1} "
            "genuine images; none has"
        )
    return np.concatenate(scores), np.concatenate(claim_labels)


def evaluate_claims(
    model: SiameseModel,
    embeddings: torch.Tensor,
    labels: np.ndarray,
    paths: Sequence[str],
    protocol: str,
    reference_counts: Sequence[int],
    scorings: Sequence[str] = CLAIM_SCORINGS,
    draws: int = 10,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Error rates of claims for each reference count and scoring.

    Returns:
        One JSON-friendly dict per (count, scoring): `references`, `scoring`, `eer`, `auc`, `eer_threshold`
        (score units: the threshold that would balance the errors of this kind of claim), `far` and `frr` at
        the bundle's threshold (None without one), `n_genuine`, `n_impostor`.
    """
    bundle_threshold = None
    if model.threshold is not None:
        bundle_threshold = float(model.similarity_from_score(np.array([model.threshold]))[0])
    rows = []
    for count in reference_counts:
        for scoring in scorings:
            scores, claim_labels = claim_trials(
                model, embeddings, labels, paths, protocol, count, scoring, draws=draws, seed=seed
            )
            similarities = model.similarity_from_score(scores)
            metrics = verification_metrics(similarities, claim_labels, bundle_threshold)
            rows.append(
                {
                    "references": int(count),
                    "scoring": scoring,
                    "eer": metrics.eer,
                    "auc": metrics.auc,
                    "eer_threshold": float(model.similarity_from_score(np.array([metrics.eer_threshold]))[0]),
                    "far": metrics.far if bundle_threshold is not None else None,
                    "frr": metrics.frr if bundle_threshold is not None else None,
                    "n_genuine": metrics.n_same,
                    "n_impostor": metrics.n_different,
                }
            )
    return rows


def calibrate_claims(
    model: SiameseModel,
    embeddings: torch.Tensor,
    labels: np.ndarray,
    paths: Sequence[str],
    protocol: str,
    reference_count: int,
    scoring: str,
    target_far: float | None = None,
    draws: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Picks a claim threshold (at `target_far`, or at the EER when None) on simulated claims of held-out data.

    The claims are those `claim_trials` draws: `reference_count` references per identity, as the gallery's
    identities will have about that many. Embed the folder first (`dataset_evaluation.embed_folder`).

    Returns:
        The threshold in score units, the false accept and false reject rates it reaches on these claims, and
        the claim counts.
    """
    scores, claim_labels = claim_trials(
        model, embeddings, labels, paths, protocol, reference_count, scoring, draws, seed
    )
    result = calibrate_threshold(
        model.similarity_from_score(scores), claim_labels, target_far=target_far, use_eer=target_far is None
    )
    return {
        "scoring": scoring,
        "references": reference_count,
        "threshold": float(model.similarity_from_score(np.array([result.threshold_similarity]))[0]),
        "achieved_far": result.achieved_far,
        "achieved_frr": result.achieved_frr,
        "method": result.method,
        "n_genuine": int((claim_labels == 1).sum()),
        "n_impostor": int((claim_labels == 0).sum()),
    }
