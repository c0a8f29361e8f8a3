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


@dataclass(frozen=True)
class IdentificationPolicy:
    """The gallery's own open-set threshold; stored in the gallery file.

    Attributes:
        threshold: Score threshold for naming an identity; None uses the bundle's pair threshold.
        references: How many references the gallery held when the threshold was fitted (more references
            make false positives likelier, so a gallery that has grown should be calibrated again).
    """

    threshold: float | None = None
    references: int = 0

    def __post_init__(self) -> None:
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ConfigError(f"identification threshold must be a finite number, got {self.threshold!r}")

    def to_settings(self) -> dict[str, str]:
        """The gallery-file settings rows (key, value) that store this policy."""
        threshold = "" if self.threshold is None else repr(self.threshold)
        return {"identification_threshold": threshold, "identification_references": str(self.references)}

    @classmethod
    def from_settings(cls, rows: dict[str, str]) -> IdentificationPolicy:
        """Reads the rows written by `to_settings`; older galleries get no threshold of their own."""
        threshold = rows.get("identification_threshold", "")
        return cls(float(threshold) if threshold else None, int(rows.get("identification_references", "0")))


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
