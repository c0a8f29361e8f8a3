"""A self-contained HTML verification report: metrics with bootstrap confidence intervals, operating points,
ROC / DET / score plots and the hardest pairs as thumbnails.

The report is one folder: `report.html` beside its PNG plots, with thumbnails embedded as base64 data URIs,
so it can be zipped, mailed or opened offline.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from siamkit.atomic import write_text_atomic
from siamkit.errors import ConfigError, DataError, SiamkitError
from siamkit.evaluation.per_class import ClassBreakdown
from siamkit.evaluation.plots import plot_det, plot_roc, plot_score_histograms
from siamkit.evaluation.report_sections import claims_html, format_number, identification_html, per_class_html
from siamkit.evaluation.verification import VerificationMetrics, check_scores_and_labels, verification_metrics

logger = logging.getLogger(__name__)

OPERATING_POINT_TARGETS: tuple[float, ...] = (1e-1, 1e-2, 1e-3)
CONFIDENCE = 0.95
HARDEST_PAIRS_SHOWN = 8
THUMBNAIL_SIZE = (160, 120)
# Resampled pairs per chunk of the vectorised bootstrap: bounds memory (~ 8 bytes x 6 arrays x this).
_BOOTSTRAP_CHUNK_ELEMENTS = 4_000_000
# Above this many resampled pairs in all (resamples x pairs), the report lowers the number of resamples so
# it stays quick (about 10 s on two cores); a standalone `bootstrap_intervals` call does as told.
_REPORT_BOOTSTRAP_BUDGET = 150_000_000
_MIN_REPORT_RESAMPLES = 200


def _bootstrap_statistics(
    same_weights: np.ndarray, different_weights: np.ndarray, n_same: int, n_different: int
) -> tuple[np.ndarray, np.ndarray]:
    """AUC and EER of each row of pair weights, pairs grouped by distinct score in ascending order.

    Args:
        same_weights: `(R, G)` how often each distinct score occurs among the resample's same pairs.
        different_weights: `(R, G)` the same for different pairs.
        n_same: Same pairs per resample (each row of `same_weights` sums to it).
        n_different: Different pairs per resample.

    Returns:
        `(auc, eer)`, each `(R,)`, computed as `verification_metrics` does on the expanded resample: AUC
        counts ties half, EER interpolates where FAR - FRR crosses zero along the ROC.
    """
    different_below = np.cumsum(different_weights, axis=1) - different_weights
    auc = (same_weights * (different_below + 0.5 * different_weights)).sum(axis=1) / (n_same * n_different)

    # ROC in decreasing-threshold order: first "accept nothing", then accept scores >= each distinct value.
    rows = same_weights.shape[0]
    accepted_different = np.cumsum(different_weights[:, ::-1], axis=1)
    accepted_same = np.cumsum(same_weights[:, ::-1], axis=1)
    zeros = np.zeros((rows, 1))
    far = np.hstack([zeros, accepted_different]) / n_different
    frr = 1.0 - np.hstack([zeros, accepted_same]) / n_same
    difference = far - frr
    crossing = np.argmax(difference >= 0.0, axis=1)  # the last point has FAR = 1, FRR = 0, so it exists
    row_index = np.arange(rows)
    before = np.maximum(crossing - 1, 0)
    difference_after = difference[row_index, crossing]
    difference_before = difference[row_index, before]
    exact = (crossing == 0) | (difference_after == 0.0)
    span = np.where(exact, 1.0, difference_after - difference_before)
    fraction = np.where(exact, 0.0, -difference_before / span)
    far_before = far[row_index, before]
    far_after = far[row_index, crossing]
    eer = np.where(exact, far_after, far_before + fraction * (far_after - far_before))
    return auc, eer


def bootstrap_intervals(
    similarities: np.ndarray,
    labels: np.ndarray,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Percentile bootstrap confidence intervals of the AUC and EER.

    Each resample draws the same pairs with replacement from the same pairs and the different pairs from
    the different pairs (a stratified bootstrap: every resample keeps both classes at their sizes, so none
    is degenerate). All resamples share one sort of the scores: a resample is a vector of counts per pair,
    and AUC (by ranks, ties counting half) and EER (by cumulative counts along the thresholds) come from
    cumulative sums, vectorised over chunks of resamples. 1000 resamples of 100,000 pairs take a few
    seconds.

    Args:
        similarities: `(P,)` pair similarities, larger = more alike.
        labels: `(P,)` 1 for same pairs, 0 for different.
        samples: Number of resamples (at least 1).
        seed: Seed of `numpy.random.Generator`; equal inputs and seed give equal intervals.
        confidence: Central coverage of the intervals, in (0, 1).

    Returns:
        `{"samples", "seed", "confidence", "auc": {"estimate", "low", "high"}, "eer": {...}}`: the estimates
        are those of the full data (as `verification_metrics` gives), the bounds percentiles of the
        resampled values.

    Raises:
        DataError: On malformed scores or labels (see `check_scores_and_labels`).
        ConfigError: When `samples` < 1 or `confidence` is outside (0, 1).
    """
    scores, integer_labels = check_scores_and_labels(similarities, labels)
    if int(samples) < 1:
        raise ConfigError(f"bootstrap samples must be at least 1, got {samples}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"bootstrap confidence must lie in (0, 1), got {confidence}")
    samples = int(samples)
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    sorted_same = integer_labels[order] == 1
    same_positions = np.flatnonzero(sorted_same)
    different_positions = np.flatnonzero(~sorted_same)
    n_same, n_different = same_positions.shape[0], different_positions.shape[0]
    pairs = scores.shape[0]
    # Pairs with equal scores form one group, so ties are handled exactly as on the original data.
    group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    has_ties = group_starts.shape[0] < pairs

    rng = np.random.default_rng(seed)
    chunk = max(1, min(samples, _BOOTSTRAP_CHUNK_ELEMENTS // pairs))
    auc_values: list[np.ndarray] = []
    eer_values: list[np.ndarray] = []
    for start in range(0, samples, chunk):
        rows = min(chunk, samples - start)
        row_offsets = (np.arange(rows, dtype=np.int64) * pairs)[:, None]
        drawn_same = same_positions[rng.integers(0, n_same, size=(rows, n_same))] + row_offsets
        drawn_different = different_positions[rng.integers(0, n_different, size=(rows, n_different))] + row_offsets
        same_counts = np.bincount(drawn_same.ravel(), minlength=rows * pairs).reshape(rows, pairs)
        different_counts = np.bincount(drawn_different.ravel(), minlength=rows * pairs).reshape(rows, pairs)
        if has_ties:
            same_counts = np.add.reduceat(same_counts, group_starts, axis=1)
            different_counts = np.add.reduceat(different_counts, group_starts, axis=1)
        auc, eer = _bootstrap_statistics(
            same_counts.astype(np.float64), different_counts.astype(np.float64), n_same, n_different
        )
        auc_values.append(auc)
        eer_values.append(eer)

    metrics = verification_metrics(scores, integer_labels)
    tail = (1.0 - confidence) / 2.0
    result: dict[str, Any] = {"samples": samples, "seed": seed, "confidence": confidence}
    for name, estimate, values in (
        ("auc", metrics.auc, np.concatenate(auc_values)),
        ("eer", metrics.eer, np.concatenate(eer_values)),
    ):
        low, high = np.quantile(values, [tail, 1.0 - tail])
        result[name] = {"estimate": float(estimate), "low": float(low), "high": float(high)}
    logger.debug("bootstrap of %d pairs with %d resamples: %s", pairs, samples, result)
    return result


def operating_points(
    metrics: VerificationMetrics, targets: Sequence[float] = OPERATING_POINT_TARGETS
) -> list[dict[str, float | None]]:
    """FRR and threshold at each target FAR, read from the ROC.

    At each target the lowest ROC threshold whose FAR is at most the target is chosen (so FRR is as low as
    that FAR allows). A target below 1 / (number of different pairs) cannot be told from zero false accepts,
    and its FAR, FRR and threshold are None.

    Returns:
        One dict per target: `target_far`, `far` (the FAR actually reached), `frr`, `threshold` (a
        similarity; +inf when even the highest score exceeds the target).
    """
    points: list[dict[str, float | None]] = []
    for target in targets:
        if metrics.n_different * target < 1.0:
            points.append({"target_far": target, "far": None, "frr": None, "threshold": None})
            continue
        # FAR is non-decreasing along the ROC, so the allowed points are a prefix; take its last one.
        last = int(np.flatnonzero(metrics.fpr <= target + 1e-12)[-1])
        points.append(
            {
                "target_far": target,
                "far": float(metrics.fpr[last]),
                "frr": float(1.0 - metrics.tpr[last]),
                "threshold": float(metrics.thresholds[last]),
            }
        )
    return points


def _thumbnail_uri(load_thumbnail: Callable[[str], Image.Image], path: str, cache: dict[str, str | None]) -> str | None:
    """The image at `path` as a small PNG data URI, or None (logged) when it cannot be loaded."""
    if path in cache:
        return cache[path]
    uri: str | None = None
    try:
        image = load_thumbnail(path).copy()
        image.thumbnail(THUMBNAIL_SIZE)
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    except (OSError, ValueError, SiamkitError) as error:
        logger.warning("%s: no thumbnail for the report (%s)", path, error)
    cache[path] = uri
    return uri


def _interval_cell(estimate: float, interval: dict[str, Any] | None) -> str:
    if interval is None:
        return f"{estimate:.4f}"
    return f"{estimate:.4f} <span class=ci>[{interval['low']:.4f}, {interval['high']:.4f}]</span>"


def _summary_html(
    metrics: VerificationMetrics, intervals: dict[str, Any] | None, threshold_source: str, bootstrap_note: str
) -> str:
    rows = [
        ("Pairs", f"{metrics.n_same} same / {metrics.n_different} different"),
        ("AUC [95% CI]", _interval_cell(metrics.auc, intervals["auc"] if intervals else None)),
        ("EER [95% CI]", _interval_cell(metrics.eer, intervals["eer"] if intervals else None)),
        ("EER threshold (similarity)", format_number(metrics.eer_threshold)),
        (f"Threshold ({html.escape(threshold_source)})", format_number(metrics.threshold)),
        ("FAR at threshold", format_number(metrics.far)),
        ("FRR at threshold", format_number(metrics.frr)),
        ("Accuracy at threshold", format_number(metrics.accuracy)),
    ]
    body = "\n".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<h2>Summary</h2>\n<table class=summary>\n{body}\n</table>\n<p class=note>{html.escape(bootstrap_note)}</p>"


def _operating_points_html(points: list[dict[str, float | None]]) -> str:
    rows = []
    for point in points:
        target = point["target_far"]
        rows.append(
            f"<tr><td>{target:g}</td><td>{format_number(point['far'], 5)}</td>"
            f"<td>{format_number(point['frr'], 5)}</td><td>{format_number(point['threshold'])}</td></tr>"
        )
    return (
        "<h2>Operating points</h2>\n<table class=operating-points>\n"
        "<tr><th>Target FAR</th><th>FAR reached</th><th>FRR</th><th>Threshold (similarity)</th></tr>\n"
        + "\n".join(rows)
        + "\n</table>\n<p class=note>At each target, the lowest threshold whose FAR does not exceed it; n/a where "
        "there are too few different pairs to resolve the target.</p>"
    )


def _pair_grid_html(
    heading: str,
    explanation: str,
    indices: np.ndarray,
    scores: np.ndarray,
    first_paths: Sequence[str],
    second_paths: Sequence[str],
    threshold: float,
    wrong_when_accepted: bool,
    load_thumbnail: Callable[[str], Image.Image] | None,
    cache: dict[str, str | None],
) -> str:
    cards = []
    for index in indices.tolist():
        accepted = bool(scores[index] >= threshold)
        is_error = accepted if wrong_when_accepted else not accepted
        images = []
        for path in (str(first_paths[index]), str(second_paths[index])):
            uri = _thumbnail_uri(load_thumbnail, path, cache) if load_thumbnail is not None else None
            escaped = html.escape(path)
            picture = f'<img src="{uri}" alt="{escaped}">' if uri else "<div class=missing>no thumbnail</div>"
            images.append(f"<figure>{picture}<figcaption>{escaped}</figcaption></figure>")
        verdict = "error at threshold" if is_error else "correct at threshold"
        cards.append(
            f"<div class=pair><div class=images>{''.join(images)}</div>"
            f"<p>similarity {scores[index]:.4f}, <span class={'error' if is_error else 'ok'}>{verdict}</span></p></div>"
        )
    content = "\n".join(cards) if cards else "<p>No such pairs.</p>"
    intro = f"<h2>{html.escape(heading)}</h2>\n<p class=note>{html.escape(explanation)}</p>"
    return f"{intro}\n<div class=grid>\n{content}\n</div>"


_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 0.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }
.ci, .note { color: #666; } .note { font-size: 0.9em; }
.plots img { max-width: 32%; margin-right: 1%; }
.map img { max-width: 70%; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
.pair { border: 1px solid #ddd; padding: 0.5em; width: 360px; }
.images { display: flex; gap: 0.5em; }
figure { margin: 0; width: 170px; } figcaption { font-size: 0.7em; word-break: break-all; color: #555; }
.missing { width: 160px; height: 120px; background: #eee; color: #888; font-size: 0.8em; }
.error { color: #b00; font-weight: bold; } .ok { color: #070; }
"""


def _embedding_map_html(plot: str | None) -> str:
    if plot is None:
        return ""
    return f"""<h2>Embedding map</h2>
<p class=note>Each image placed by t-SNE so that images the model embeds close together sit close together; the
classes with the most errors come first. A class in one island is one the model recognises; islands that
touch are classes it confuses. Distances between islands mean little.</p>
<div class=map><img src="{html.escape(plot)}" alt="Embedding map"></div>"""


def write_html_report(
    output_dir: str | Path,
    similarities: np.ndarray,
    pair_labels: np.ndarray,
    first_paths: Sequence[str],
    second_paths: Sequence[str],
    load_thumbnail: Callable[[str], Image.Image] | None = None,
    threshold_similarity: float | None = None,
    title: str = "Verification report",
    bootstrap_samples: int = 1000,
    seed: int = 0,
    per_class: Sequence[ClassBreakdown] = (),
    claims: Sequence[dict[str, Any]] = (),
    identification: dict[str, Any] | None = None,
    identification_plots: Sequence[str] = (),
    embedding_map_plot: str | None = None,
) -> Path:
    """Writes `output_dir/report.html` with `roc.png`, `det.png` and `scores.png` beside it.

    The report holds: a summary (pair counts, AUC and EER with bootstrap 95% intervals, rates at the
    threshold), operating points at FAR 1e-1, 1e-2 and 1e-3 (FRR and threshold), the three plots, and the
    8 hardest different pairs (highest similarity: the worst false accepts) and same pairs (lowest
    similarity: the worst false rejects) as thumbnails side by side, and, when given, the per-class
    breakdown (its worst classes). Every file is written atomically, the
    HTML last, and all paths and the title are HTML-escaped.

    Args:
        output_dir: Folder to write into (created if needed; other files in it are left alone).
        similarities: `(P,)` pair similarities, larger = more alike.
        pair_labels: `(P,)` 1 for same pairs, 0 for different.
        first_paths: The first image of each pair (shown under its thumbnail).
        second_paths: The second image of each pair.
        load_thumbnail: Opens an image by its path for a thumbnail; None leaves thumbnails out. Images that
            fail to load are shown as "no thumbnail" and logged.
        threshold_similarity: Similarity threshold for the rates and the error marks; default: the EER
            threshold.
        title: The report's heading.
        bootstrap_samples: Resamples for the confidence intervals; 0 skips them. Over 150 million resampled
            pairs in all, the count is lowered (to no fewer than 200) and the report says so.
        seed: Seed of the bootstrap.
        per_class: A breakdown from `per_class_breakdown`, worst first; empty leaves the section out.
        claims: Rows of `siamkit.evaluation.claims.evaluate_claims`; empty leaves the section out.
        identification: The dict of `siamkit.evaluation.identification.evaluate_identification`; None leaves
            the section out.
        identification_plots: File names, in `output_dir`, of plots to show in the identification section.
        embedding_map_plot: File name, in `output_dir`, of an embedding map
            (`siamkit.evaluation.plots.plot_embedding_map`); None leaves the section out.

    Returns:
        The path of `report.html`.

    Raises:
        DataError: On malformed scores, labels or path lists.
        ConfigError: When `bootstrap_samples` is negative.
    """
    scores, integer_labels = check_scores_and_labels(similarities, pair_labels)
    if not len(first_paths) == len(second_paths) == scores.shape[0]:
        raise DataError(
            f"report needs one path pair per score: got {len(first_paths)} first and {len(second_paths)} second "
            f"paths for {scores.shape[0]} scores"
        )
    if bootstrap_samples < 0:
        raise ConfigError(f"bootstrap_samples must be zero or more, got {bootstrap_samples}")
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    metrics = verification_metrics(scores, integer_labels, threshold_similarity)
    threshold_source = "EER threshold" if threshold_similarity is None else "given"

    intervals: dict[str, Any] | None = None
    if bootstrap_samples == 0:
        bootstrap_note = "Confidence intervals were not computed (bootstrap_samples = 0)."
    else:
        resamples = bootstrap_samples
        if resamples * scores.shape[0] > _REPORT_BOOTSTRAP_BUDGET:
            resamples = max(_MIN_REPORT_RESAMPLES, _REPORT_BOOTSTRAP_BUDGET // scores.shape[0])
            resamples = min(resamples, bootstrap_samples)
        intervals = bootstrap_intervals(scores, integer_labels, resamples, seed)
        bootstrap_note = (
            f"95% percentile bootstrap intervals from {resamples} resamples (seed {seed}), resampling same and "
            "different pairs with replacement separately. Pairs sharing an image are treated as independent, "
            "so the intervals may be somewhat too narrow."
        )
        if resamples < bootstrap_samples:
            bootstrap_note += f" Resamples were reduced from {bootstrap_samples} to keep the report fast."

    plot_roc(metrics, folder / "roc.png")
    plot_det(metrics, folder / "det.png")
    plot_score_histograms(scores, integer_labels, folder / "scores.png", threshold=metrics.threshold)

    same = np.flatnonzero(integer_labels == 1)
    different = np.flatnonzero(integer_labels == 0)
    # Stable sorts break ties by pair order, so the grids are reproducible.
    hardest_different = different[np.argsort(-scores[different], kind="stable")[:HARDEST_PAIRS_SHOWN]]
    hardest_same = same[np.argsort(scores[same], kind="stable")[:HARDEST_PAIRS_SHOWN]]
    cache: dict[str, str | None] = {}
    pair_grid = functools.partial(
        _pair_grid_html,
        scores=scores,
        first_paths=first_paths,
        second_paths=second_paths,
        threshold=metrics.threshold,
        load_thumbnail=load_thumbnail,
        cache=cache,
    )
    false_accepts = pair_grid(
        "Worst false accepts",
        "Different pairs with the highest similarity.",
        hardest_different,
        wrong_when_accepted=True,
    )
    false_rejects = pair_grid(
        "Worst false rejects", "Same pairs with the lowest similarity.", hardest_same, wrong_when_accepted=False
    )
    escaped_title = html.escape(title)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    document = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{escaped_title}</title><style>{_STYLE}</style></head>
<body>
<h1>{escaped_title}</h1>
<p class=note>Generated {generated} by siamkit. Similarities are larger = more alike; a pair is accepted as
"same" when its similarity is at least the threshold.</p>
{_summary_html(metrics, intervals, threshold_source, bootstrap_note)}
{_operating_points_html(operating_points(metrics))}
{per_class_html(per_class)}
{claims_html(claims)}
{identification_html(identification, identification_plots)}
<h2>Curves</h2>
<div class=plots><img src="roc.png" alt="ROC curve"><img src="det.png" alt="DET curve"><img src="scores.png"
alt="Score histograms"></div>
{_embedding_map_html(embedding_map_plot)}
{false_accepts}
{false_rejects}
</body>
</html>
"""
    report_path = folder / "report.html"
    write_text_atomic(report_path, document)
    logger.info("wrote verification report %s", report_path)
    return report_path
