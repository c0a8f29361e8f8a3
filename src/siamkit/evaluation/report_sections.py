"""The optional sections of the HTML report: per-class breakdown, gallery claims and identification.

Each takes what the evaluation computed and returns an HTML fragment (empty when there is nothing to show);
every string from the data is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from siamkit.evaluation.per_class import ClassBreakdown

PER_CLASS_ROWS_SHOWN = 20


def format_number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if np.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def per_class_html(breakdown: Sequence[ClassBreakdown]) -> str:
    if not breakdown:
        return ""
    shown = breakdown[:PER_CLASS_ROWS_SHOWN]
    rows = [
        f"<tr><td>{html.escape(entry.name)}</td><td>{entry.n_same}</td><td>{entry.n_different}</td>"
        f"<td>{format_number(entry.frr)}</td><td>{format_number(entry.far)}</td>"
        f"<td>{format_number(entry.eer)}</td></tr>"
        for entry in shown
    ]
    more = len(breakdown) - len(shown)
    note = (
        "Rates at the threshold of the summary, over the pairs that involve each class (a different pair counts "
        "for both its classes); the class EER is what a threshold fitted to that class alone would reach. "
        "Worst classes first (mean of FAR and FRR)."
    )
    if more:
        note += f" {more} more classes are in the JSON output (per_class)."
    return (
        "<h2>Per class</h2>\n<table class=per-class>\n"
        "<tr><th>Class</th><th>Same pairs</th><th>Different pairs</th><th>FRR</th><th>FAR</th><th>Class EER</th></tr>\n"
        + "\n".join(rows)
        + f"\n</table>\n<p class=note>{html.escape(note)}</p>"
    )


def claims_html(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cells = [
        f"<tr><td>{row['references']}</td><td>{html.escape(str(row['scoring']))}</td>"
        f"<td>{format_number(row['eer'])}</td><td>{format_number(row['eer_threshold'], 6)}</td>"
        f"<td>{format_number(row['far'])}</td><td>{format_number(row['frr'])}</td>"
        f"<td>{row['n_genuine']} / {row['n_impostor']}</td></tr>"
        for row in rows
    ]
    note = (
        "Simulated gallery claims: each identity enrolled with K random references (10 draws), its other images "
        "claiming it and the impostors (the writer's forgeries, or the other classes) claiming it falsely. FAR "
        "and FRR are at the model's threshold; the EER threshold is the one `siamkit gallery calibrate-claims "
        "--eer` would store for that scoring."
    )
    return (
        "<h2>Claims against enrolled references</h2>\n<table class=per-class>\n<tr><th>References</th>"
        "<th>Scoring</th><th>EER</th><th>EER threshold (score)</th><th>FAR</th><th>FRR</th>"
        "<th>Genuine / impostor claims</th></tr>\n"
        + "\n".join(cells)
        + f"\n</table>\n<p class=note>{html.escape(note)}</p>"
    )


def identification_html(result: dict[str, Any] | None, plots: Sequence[str] = ()) -> str:
    if result is None:
        return ""
    ranks = "".join(
        f"<tr><th>Rank {rank} identification rate</th><td>{format_number(rate)}</td></tr>"
        for rank, rate in result["rank_accuracy"].items()
    )
    summary = (
        f"<tr><th>Gallery</th><td>{result['enrolled']} identities x {result['references']} references, "
        f"{result['strangers']} strangers held out, {result['draws']} draws</td></tr>"
        f"<tr><th>Probes</th><td>{result['n_mated']} mated / {result['n_non_mated']} non-mated</td></tr>"
        f"{ranks}<tr><th>FPIR / FNIR at the model's threshold</th><td>{format_number(result['fpir'])} / "
        f"{format_number(result['fnir'])}</td></tr>"
    )
    points = "\n".join(
        f"<tr><td>{row['target_fpir']:g}</td><td>{format_number(row['fpir'], 5)}</td>"
        f"<td>{format_number(row['fnir'], 5)}</td><td>{format_number(row['threshold'], 6)}</td></tr>"
        for row in result["fnir_at_fpir"]
    )
    retrieval = result.get("retrieval")
    retrieval_html = ""
    if retrieval:
        retrieval_html = (
            f"<p>Leave-one-out retrieval over {retrieval['n_queries']} queries: precision at 1 "
            f"{format_number(retrieval['precision_at_1'])}, R-precision {format_number(retrieval['r_precision'])}, "
            f"MAP@R {format_number(retrieval['map_at_r'])}.</p>"
        )
    images = "".join(f'<img src="{html.escape(name)}" alt="{html.escape(name)}">' for name in plots)
    note = (
        "A simulated gallery: the strangers' images (and, for signatures, every forgery) are non-mated probes, "
        "the enrolled identities' other images mated ones. FPIR: non-mated probes named as someone; FNIR: mated "
        "probes not named as themselves. The fitted thresholds are what `siamkit gallery "
        "calibrate-identification --target-fpir` would choose on these probes (n/a: too few non-mated probes)."
    )
    return (
        "<h2>Identification</h2>\n<table class=summary>\n" + summary + "\n</table>\n"
        "<table class=operating-points>\n<tr><th>Target FPIR</th><th>FPIR reached</th><th>FNIR</th>"
        "<th>Threshold (score)</th></tr>\n" + points + f"\n</table>\n{retrieval_html}"
        f"<div class=plots>{images}</div>\n<p class=note>{html.escape(note)}</p>"
    )
