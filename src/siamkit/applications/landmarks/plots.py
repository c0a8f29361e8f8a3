"""Figures for docs/landmarks.md: method sweeps, the ablation and the added-landmarks scenario (PNG)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Figures are built with the object-oriented API (no pyplot), so no global backend or display is involved.
from matplotlib.figure import Figure

from siamkit.applications.landmarks.comparison import SweepRow
from siamkit.atomic import write_bytes_atomic

_AXIS_LABELS = {
    "noise": "range noise σ",
    "n_landmarks": "number of landmarks",
    "n_dimensions": "dimensions d (landmarks = d + 1 + spare)",
    "training_points": "network training points",
}
# Exact solvers reach ~1e-15; plotting those on a log axis would squash everything else.
_LOG_FLOOR = 1e-6
# Linear trilateration and landmark MDS coincide exactly; distinct markers and dashes keep both visible.
_STYLES = {
    "random": ("o", "-"),
    "network": ("s", "-"),
    "trilateration_linear": ("^", "-"),
    "trilateration_refined": ("D", "-"),
    "landmark_mds": ("v", ":"),
    "network_frozen": ("s", ":"),
    "network_fine_tuned": ("s", "-"),
    "network_retrained": ("s", "--"),
}


def plot_sweep(rows: Sequence[SweepRow], path: str | Path, title: str) -> Path:
    """Pair error and coordinate RMSE (with the Cramér-Rao bound) against the swept parameter, per method."""
    if not rows:
        raise ValueError("no sweep rows to plot")
    parameter = rows[0].parameter
    figure = Figure(figsize=(11, 4.2))
    pair_axis, rmse_axis = figure.subplots(1, 2)
    methods = list(dict.fromkeys(row.method for row in rows))
    for method in methods:
        selected = [row for row in rows if row.method == method]
        values = [row.value for row in selected]
        marker, linestyle = _STYLES.get(method, ("o", "-"))
        for axis, means, spreads in (
            (pair_axis, [row.pair_error_mean for row in selected], [row.pair_error_std for row in selected]),
            (rmse_axis, [row.rmse_mean for row in selected], [row.rmse_std for row in selected]),
        ):
            floored = [max(mean, _LOG_FLOOR) for mean in means]
            axis.errorbar(values, floored, yerr=spreads, marker=marker, linestyle=linestyle, capsize=3, label=method)
    bound_rows = [row for row in rows if row.method == methods[0]]
    bounds = [(row.value, row.rmse_bound_mean) for row in bound_rows if row.rmse_bound_mean > 0]
    if bounds:
        rmse_axis.plot(*zip(*bounds, strict=True), "k--", label="Cramér-Rao bound")
    for axis, label in ((pair_axis, "mean |Δ distance| per pair"), (rmse_axis, "position RMSE")):
        axis.set_yscale("log")
        axis.set_xlabel(_AXIS_LABELS.get(parameter, parameter))
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        if parameter == "noise":
            axis.set_xscale("symlog", linthresh=1e-3)
            axis.set_xlim(left=-3e-4)
        elif parameter == "training_points":
            axis.set_xscale("log")
    rmse_axis.legend(fontsize=8)
    figure.suptitle(title)
    return _save(figure, path)


def plot_ablation(summaries: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Horizontal bars of pair error relative to random guessing (mean ± std over seeds), one per row."""
    figure = Figure(figsize=(8, 0.45 * len(summaries) + 1.2))
    axis = figure.subplots()
    names = [summary["name"] for summary in summaries]
    means = [summary["ratio_to_random_mean"] for summary in summaries]
    spreads = [summary["ratio_to_random_std"] for summary in summaries]
    positions = range(len(names))
    axis.barh(list(positions), means, xerr=spreads, capsize=3, color="tab:blue")
    axis.axvline(1.0, color="tab:red", linestyle="--", label="random guessing")
    axis.set_yticks(list(positions), names)
    axis.invert_yaxis()
    axis.set_xlabel("pair error / random-guess pair error")
    axis.legend(loc="lower right")
    axis.grid(True, axis="x", alpha=0.3)
    figure.suptitle("Landmark experiment ablation")
    return _save(figure, path)


def plot_late_landmarks(summaries: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Position RMSE against the number of landmarks added after training, per method, with the bound."""
    figure = Figure(figsize=(7, 4.2))
    axis = figure.subplots()
    methods = list(dict.fromkeys(summary["method"] for summary in summaries))
    for method in methods:
        selected = [summary for summary in summaries if summary["method"] == method]
        marker, linestyle = _STYLES.get(method, ("o", "-"))
        axis.errorbar(
            [summary["added"] for summary in selected],
            [max(summary["rmse_mean"], _LOG_FLOOR) for summary in selected],
            yerr=[summary["rmse_std"] for summary in selected],
            marker=marker,
            linestyle=linestyle,
            capsize=3,
            label=method,
        )
    bound_rows = [summary for summary in summaries if summary["method"] == methods[0]]
    axis.plot(
        [summary["added"] for summary in bound_rows],
        [summary["rmse_bound_mean"] for summary in bound_rows],
        "k--",
        label="Cramér-Rao bound",
    )
    axis.set_yscale("log")
    axis.set_xlabel("landmarks added after training")
    axis.set_ylabel("position RMSE")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.suptitle("Landmarks added later")
    return _save(figure, path)


def _save(figure: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    target = Path(path)
    write_bytes_atomic(target, buffer.getvalue())
    return target
