"""The open-set decision of `Gallery.identify`, and a threshold fitted for it on the gallery itself.

`identify` names the identity whose best reference scores highest and accepts it when that score passes a
threshold. The bundle's threshold is fitted on single pairs, but a probe of someone never enrolled meets every
reference of the gallery, so the chance that one of them passes grows with the gallery: with dlib's face network
on ORL, 0.9% of strangers are named against one enrolled person and 29% against twenty, at the same threshold
(docs/benchmarks.md, "Thirteenth session"). The false positive identification rate (FPIR) has to be fitted on
the gallery as it is: `fpir_threshold` takes the best scores of images of people who are not enrolled and puts
the threshold where at most the target share of them would be named. `siamkit gallery
calibrate-identification` stores it in the gallery (`IdentificationPolicy`), and `identify` then uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from siamkit.errors import ConfigError, DataError

# A gallery may grow this much past the size its threshold was fitted at before identify warns.
GROWTH_TOLERANCE = 1.2


@dataclass(frozen=True)
class IdentificationPolicy:
    """The gallery's own open-set threshold; stored in the gallery file.

    Attributes:
        threshold: Score threshold for naming an identity; None uses the bundle's pair threshold.
        references: How many references the gallery held when the threshold was fitted (more references
            make false positives likelier, so a gallery that has grown should be calibrated again).
        target_fpir: The FPIR the threshold was fitted for (None in galleries calibrated before it was kept).
    """

    threshold: float | None = None
    references: int = 0
    target_fpir: float | None = None

    def __post_init__(self) -> None:
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ConfigError(f"identification threshold must be a finite number, got {self.threshold!r}")
        if self.target_fpir is not None and not 0.0 <= self.target_fpir < 1.0:
            raise ConfigError(f"identification target FPIR must be at least 0 and below 1, got {self.target_fpir}")

    def to_settings(self) -> dict[str, str]:
        """The gallery-file settings rows (key, value) that store this policy."""
        threshold = "" if self.threshold is None else repr(self.threshold)
        target = "" if self.target_fpir is None else repr(self.target_fpir)
        return {
            "identification_threshold": threshold,
            "identification_references": str(self.references),
            "identification_target_fpir": target,
        }

    @classmethod
    def from_settings(cls, rows: dict[str, str]) -> IdentificationPolicy:
        """Reads the rows written by `to_settings`; older galleries get no threshold of their own."""
        threshold = rows.get("identification_threshold", "")
        target = rows.get("identification_target_fpir", "")
        return cls(
            float(threshold) if threshold else None,
            int(rows.get("identification_references", "0")),
            float(target) if target else None,
        )

    def growth_warning(self, references: int) -> str | None:
        """A warning when the gallery holds clearly more references than the threshold was fitted on, else None.

        Every reference is one more chance for a stranger to come close, so the false positive rate the
        threshold was fitted for no longer holds. The estimate treats references as independent chances,
        FPIR_now = 1 - (1 - FPIR_fitted) ** (now / then): rough, but it says which way and how far.
        """
        if self.threshold is None or self.references <= 0 or references <= self.references * GROWTH_TOLERANCE:
            return None
        estimate = ""
        if self.target_fpir is not None:
            grown = 1.0 - (1.0 - self.target_fpir) ** (references / self.references)
            estimate = f" (fitted for FPIR {self.target_fpir:.2%}; expect about {grown:.2%} now)"
        return (
            f"the identification threshold was fitted on {self.references} references and the gallery now holds "
            f"{references}, so more strangers will be named{estimate}; run `siamkit gallery "
            "calibrate-identification` again"
        )


def fpir_threshold(best_similarities: np.ndarray, target_fpir: float) -> float:
    """The lowest similarity threshold at which at most `target_fpir` of the non-mated probes pass.

    Args:
        best_similarities: `(P,)` each non-enrolled probe's best similarity to the gallery (larger = more alike).
        target_fpir: Wanted share of those probes named as someone, in [0, 1).

    Returns:
        A similarity threshold; a probe is named when its best similarity is at least it.
    """
    values = np.sort(np.asarray(best_similarities, dtype=np.float64))[::-1]
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise DataError("FPIR calibration needs at least one finite best score of a non-enrolled probe")
    if not 0.0 <= target_fpir < 1.0:
        raise ConfigError(f"target FPIR must be at least 0 and below 1, got {target_fpir}")
    allowed = math.floor(target_fpir * values.size + 1e-9)
    # Just above the first probe that may not pass, so that it and everything tied with it are rejected.
    return float(np.nextafter(values[allowed], np.inf))
