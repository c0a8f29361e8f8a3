"""PNG plots of evaluation results and training history.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, so no global backend switch,
no windows and no shared state between threads), rendered to bytes, then written atomically.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib and scipy.stats are imported when a plot is drawn: `siamkit` starts faster
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from siamkit.evaluation.embedding_map import EmbeddingMap

from siamkit.atomic import write_bytes_atomic
from siamkit.errors import DataError
from siamkit.evaluation.verification import VerificationMetrics, check_scores_and_labels

logger = logging.getLogger(__name__)

_DPI = 110
# DET axes tick positions (error rates) and the range shown; rates of exactly 0 or 1 sit at the edges.
_DET_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
_DET_LIMITS = (0.0005, 0.5)
# Record fields that are bookkeeping, not metrics worth a curve.
_NOT_METRICS = frozenset({"step", "epoch", "time", "seconds", "images_per_second", "learning_rate", "ways", "shots"})


def _new_figure(width: float = 6.0, height: float = 4.5) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    write_bytes_atomic(path, buffer.getvalue())
    logger.debug("wrote plot %s", path)
    return Path(path)


def _probit(rates: Any) -> np.ndarray:
    """The standard normal quantile of error rates: the DET plot's axis scale."""
    from scipy.stats import norm

    return np.asarray(norm.ppf(rates))


def _normal_deviate_axes(axes: Axes, x_label: str, y_label: str, title: str) -> None:
    """Error-rate axes on the probit scale, ticked in percent, over the DET range."""
    low, high = _probit(_DET_LIMITS)
    ticks = _probit(_DET_TICKS)
    labels = [f"{100 * value:g}" for value in _DET_TICKS]
    axes.set_xticks(ticks, labels)
    axes.set_yticks(ticks, labels)
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.grid(alpha=0.3)


def plot_roc(metrics: VerificationMetrics, path: str | Path) -> Path:
    """Draws the ROC curve (true accept rate against false accept rate) with the EER point marked.

    Returns:
        The PNG path written.
    """
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(metrics.fpr, metrics.tpr, color="tab:blue", linewidth=2, label=f"ROC (AUC = {metrics.auc:.4f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    axes.plot([metrics.eer], [1 - metrics.eer], "o", color="tab:red", label=f"EER = {metrics.eer:.4f}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("False accept rate (FAR)")
    axes.set_ylabel("True accept rate (TAR = 1 - FRR)")
    axes.set_title(f"ROC curve ({metrics.n_same} same / {metrics.n_different} different pairs)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return _save(figure, path)


def plot_det(metrics: VerificationMetrics, path: str | Path) -> Path:
    """Draws the DET curve: FRR against FAR on normal-deviate (probit) axes, with the EER point marked.

    On these axes, Gaussian score distributions give straight lines, so systems are easy to compare at low
    error rates. Rates outside the plotted range are clipped to its edges.

    Returns:
        The PNG path written.
    """
    low, high = _DET_LIMITS
    far = np.clip(metrics.fpr, low, high)
    frr = np.clip(1.0 - metrics.tpr, low, high)
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(_probit(far), _probit(frr), color="tab:blue", linewidth=2, label="DET")
    eer = float(np.clip(metrics.eer, low, high))
    axes.plot([_probit(eer)], [_probit(eer)], "o", color="tab:red", label=f"EER = {metrics.eer:.4f}")
    axes.plot(_probit(_DET_LIMITS), _probit(_DET_LIMITS), color="grey", linestyle=":", linewidth=1)
    _normal_deviate_axes(axes, "False accept rate (%)", "False reject rate (%)", "DET curve (normal-deviate scale)")
    axes.legend(loc="upper right")
    return _save(figure, path)


def plot_cmc(cmc: Sequence[float], path: str | Path, references: int) -> Path:
    """Draws the CMC curve: the share of mated probes whose identity is among the first r ranked.

    Returns:
        The PNG path written.
    """
    if len(cmc) == 0:
        raise DataError("a CMC curve needs at least one rank")
    ranks = np.arange(1, len(cmc) + 1)
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.step(ranks, cmc, where="post", color="tab:blue", linewidth=2)
    axes.plot([1], [cmc[0]], "o", color="tab:red", label=f"rank 1 = {cmc[0]:.4f}")
    if len(cmc) > 20:
        axes.set_xscale("log")
    else:
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(min(cmc[0], 0.9) - 0.05, 1.005)
    axes.set_xlabel("Rank")
    axes.set_ylabel("Identification rate")
    plural = "" if references == 1 else "s"
    axes.set_title(f"CMC curve ({len(cmc)} enrolled identities, {references} reference{plural} each)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return _save(figure, path)


def plot_identification_errors(fpir: np.ndarray, fnir: np.ndarray, path: str | Path) -> Path:
    """Draws open-set identification errors, FNIR against FPIR as the threshold moves, on DET axes.

    Returns:
        The PNG path written.
    """
    low, high = _DET_LIMITS
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(_probit(np.clip(fpir, low, high)), _probit(np.clip(fnir, low, high)), color="tab:blue", linewidth=2)
    _normal_deviate_axes(
        axes,
        "Strangers named as someone: FPIR (%)",
        "Enrolled people not named as themselves: FNIR (%)",
        "Open-set identification errors (normal-deviate scale)",
    )
    return _save(figure, path)


def plot_score_histograms(
    similarities: np.ndarray, labels: np.ndarray, path: str | Path, threshold: float | None = None
) -> Path:
    """Draws overlaid histograms of "same" and "different" similarities, and the threshold if given.

    Returns:
        The PNG path written.
    """
    scores, integer_labels = check_scores_and_labels(similarities, labels)
    bins = np.histogram_bin_edges(scores, bins=min(60, max(10, int(np.sqrt(scores.shape[0]))))).tolist()
    figure = _new_figure()
    axes = figure.add_subplot()
    for label, name, color in ((1, "same", "tab:green"), (0, "different", "tab:red")):
        chosen = scores[integer_labels == label]
        axes.hist(chosen, bins=bins, density=True, alpha=0.5, color=color, label=f"{name} ({chosen.shape[0]})")
    if threshold is not None:
        axes.axvline(threshold, color="black", linestyle="--", linewidth=1.5, label=f"threshold = {threshold:.4g}")
    axes.set_xlabel("Similarity (larger = more alike)")
    axes.set_ylabel("Density")
    axes.set_title("Similarity distributions of same and different pairs")
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_embedding_map(
    mapping: EmbeddingMap, class_names: Sequence[str], path: str | Path, marked_name: str = "marked"
) -> Path:
    """Draws an embedding map: one colour per class, marked images (forgeries, say) as crosses.

    Args:
        mapping: Points from `siamkit.evaluation.embedding_map.map_embeddings`.
        class_names: Name of each class index, for the legend.
        path: The PNG to write.
        marked_name: What the crosses are, for the legend.

    Returns:
        The PNG path written.
    """
    from matplotlib import colormaps

    classes = [label for label in mapping.classes if (mapping.labels == label).any()]  # thinning may drop one
    palette = colormaps["tab20"] if len(classes) > 10 else colormaps["tab10"]
    figure = _new_figure(8.0, 6.0)
    axes = figure.add_subplot()
    for position, label in enumerate(classes):
        color = palette(position % palette.N)
        own = mapping.labels == label
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        plain, crossed = own & ~mapping.marked, own & mapping.marked
        axes.scatter(mapping.points[plain, 0], mapping.points[plain, 1], s=18, color=color, label=name, alpha=0.85)
        if crossed.any():
            axes.scatter(
                mapping.points[crossed, 0], mapping.points[crossed, 1], s=28, color=color, marker="x", alpha=0.85
            )
    if mapping.marked.any():
        axes.scatter([], [], s=28, color="grey", marker="x", label=marked_name)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(f"Embeddings of {len(classes)} classes placed by {mapping.method} (neighbours, not distances)")
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small", frameon=False)
    return _save(figure, path)


def _read_records(source: str | Path | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if not isinstance(source, str | Path):
        return list(source)
    records: list[Mapping[str, Any]] = []
    try:
        lines = Path(source).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DataError(f"{source}: cannot read metrics log ({error.strerror or error})") from None
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{source}:{line_number}: not a JSON object") from None
        if not isinstance(record, dict):
            raise DataError(f"{source}:{line_number}: not a JSON object")
        records.append(record)
    return records


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a (possibly nested) record, keyed like `validation/eer`."""
    values: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            values.update(_flatten(value, f"{name}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value):
            values[name] = float(value)
    return values


def _series(records: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, tuple[list[float], list[float]]]]:
    """The x-axis name and, per metric, its (x, y) points."""
    x_name = "step" if any("step" in record for record in records) else "epoch"
    series: dict[str, tuple[list[float], list[float]]] = {}
    for index, record in enumerate(records):
        flat = _flatten(record)
        x_value = flat.get(x_name, float(index))
        for name, value in flat.items():
            if name.rsplit("/", 1)[-1] in _NOT_METRICS:
                continue
            xs, ys = series.setdefault(name, ([], []))
            xs.append(x_value)
            ys.append(value)
    return x_name, series


def _plot_series(axes: Axes, series: dict[str, tuple[list[float], list[float]]], smooth: bool) -> None:
    for name, (xs, ys) in sorted(series.items()):
        marker = "o" if len(xs) < 30 else None
        if smooth and len(ys) >= 50:
            window = max(5, len(ys) // 50)
            smoothed = np.convolve(ys, np.ones(window) / window, mode="valid")
            line = axes.plot(xs, ys, alpha=0.3, linewidth=1)[0]
            label = f"{name} (moving average of {window})"
            axes.plot(xs[window - 1 :], smoothed, color=line.get_color(), linewidth=2, label=label)
        else:
            axes.plot(xs, ys, marker=marker, linewidth=1.5, label=name)


def plot_training_curves(source: str | Path | Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Draws loss against step and, below it, every other logged metric (e.g. validation EER, AUC).

    Args:
        source: A JSONL metrics log, or its records as dicts. Records carry `step` (or `epoch`) and numeric
            values, possibly nested (`{"validation": {"eer": 0.1}}` plots as `validation/eer`).
            Bookkeeping fields (time, learning rate, throughput) are not plotted.
        path: The PNG to write.

    Returns:
        The PNG path written.

    Raises:
        DataError: When the log cannot be read or holds nothing to plot.
    """
    records = _read_records(source)
    x_name, series = _series(records)
    if not series:
        raise DataError(f"{source if isinstance(source, str | Path) else 'metrics'}: no numeric metrics to plot")
    losses = {name: points for name, points in series.items() if "loss" in name.rsplit("/", 1)[-1]}
    others = {name: points for name, points in series.items() if name not in losses}
    all_validation = all(name.startswith(("validation", "val_")) for name in others)
    others_title = "Validation metrics" if all_validation else "Metrics"
    panels = [(losses, "Loss", "Training loss", True), (others, "Value", others_title, False)]
    panels = [panel for panel in panels if panel[0]]
    figure = _new_figure(7.0, 3.6 * len(panels))
    first_axes = None
    for position, (panel_series, y_label, title, smooth) in enumerate(panels, start=1):
        # A shared x-axis lines validation points up with the training steps they were measured at.
        axes = figure.add_subplot(len(panels), 1, position, sharex=first_axes)
        first_axes = first_axes or axes
        _plot_series(axes, panel_series, smooth)
        axes.set_xlabel(x_name.capitalize())
        axes.set_ylabel(y_label)
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    return _save(figure, path)
