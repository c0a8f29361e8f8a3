"""`siamkit evaluate`: verification metrics, one-shot accuracy, claims, plots and a report for a labelled folder.

A thin adapter over `siamkit.evaluation.dataset_evaluation.evaluate_folder`; user errors raise `SiamkitError`
subclasses, which the siamkit CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table


def evaluate_command(
    model: Annotated[Path, typer.Option(help="Model bundle folder.")],
    data: Annotated[str, typer.Option(help="Image folder or zip of held-out classes.")],
    onnx: Annotated[
        Path | None,
        typer.Option(help="Embed through this ONNX export of the bundle (siamkit export), as it would be served."),
    ] = None,
    protocol: Annotated[
        str, typer.Option(help="classes (one folder per class) or signatures (original_/forgeries_ files).")
    ] = "classes",
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    pairs_out: Annotated[Path | None, typer.Option(help="Write the evaluated pair list (CSV) here.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write ROC, DET and histogram PNGs into this folder.")] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write an HTML report (curves, operating points, CIs, worst pairs) here.")
    ] = None,
    ways: Annotated[int, typer.Option(help="N of N-way one-shot episodes (0 to skip).")] = 5,
    shots: Annotated[int, typer.Option(help="K of N-way K-shot episodes.")] = 1,
    episodes: Annotated[int, typer.Option(help="Number of episodes.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the different-pair sample and of the episodes.")] = 0,
    claims: Annotated[
        list[int] | None,
        typer.Option(
            help="Also score gallery claims against this many enrolled references per identity, with each claim "
            "scoring (mean, best, centroid); repeat for several counts."
        ),
    ] = None,
    identification: Annotated[
        int | None,
        typer.Option(
            help="Also score identification against a simulated gallery with this many references per enrolled "
            "identity: ranks (CMC), open-set errors (FNIR at FPIR) and leave-one-out retrieval (MAP@R)."
        ),
    ] = None,
    strangers: Annotated[
        float, typer.Option(help="With --identification: share of the identities never enrolled (non-mated).")
    ] = 0.5,
) -> None:
    """Verification metrics (AUC, EER, FAR/FRR, TAR at FAR) and one-shot accuracy on held-out classes."""
    import siamkit
    from siamkit.evaluation.dataset_evaluation import evaluate_folder

    loaded = siamkit.load(model)
    if onnx is not None:
        loaded.use_onnx_export(onnx)
    results = evaluate_folder(
        loaded, data, protocol=protocol, pairs_out=pairs_out, plots_dir=plots, report_dir=report,
        ways=ways, shots=shots, episodes=episodes, seed=seed, claim_references=claims or (),
        identification_references=identification, stranger_share=strangers,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(results, indent=2, default=float))
        return
    console = Console()
    console.print(_summary_table(results, f"evaluation of {model} on {data}"))
    worst = [entry for entry in results.get("per_class", []) if entry["false_rejects"] or entry["false_accepts"]]
    if worst:
        console.print(
            "classes with the most errors (FRR / FAR): "
            + ", ".join(f"{entry['name']} ({_rate(entry['frr'])} / {_rate(entry['far'])})" for entry in worst[:5])
        )
    if results.get("claims"):
        console.print(_claims_table(results["claims"]))
    if results.get("identification"):
        console.print(_identification_table(results["identification"]))
    if results.get("report"):
        console.print(f"report: {results['report']}")


def _summary_table(results: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("auc", "eer", "threshold", "far", "frr", "accuracy", "n_same", "n_different"):
        value = results.get(key)
        table.add_row(key, "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value))
    for far, tar in (results.get("tar_at_far") or {}).items():
        table.add_row(f"TAR at FAR {far}", "-" if tar is None else f"{tar:.4f}")
    if results.get("one_shot"):
        shot = results["one_shot"]
        table.add_row(f"{shot['ways']}-way {shot['shots']}-shot accuracy", f"{shot['accuracy']:.4f}")
    return table


def _claims_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="claims against enrolled references (FAR / FRR at the bundle's threshold)")
    for column in ("references", "scoring", "EER", "EER threshold", "FAR", "FRR", "genuine / impostor claims"):
        table.add_column(column, justify="left" if column == "scoring" else "right")
    for row in rows:
        table.add_row(
            str(row["references"]), row["scoring"], f"{row['eer']:.4f}", f"{row['eer_threshold']:.6g}",
            _rate(row["far"], 4), _rate(row["frr"], 4), f"{row['n_genuine']} / {row['n_impostor']}",
        )  # fmt: skip
    return table


def _identification_table(result: dict[str, Any]) -> Table:
    table = Table(
        title=f"identification: {result['enrolled']} identities x {result['references']} references, "
        f"{result['strangers']} strangers ({result['n_mated']} mated / {result['n_non_mated']} non-mated probes)"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for rank, rate in result["rank_accuracy"].items():
        table.add_row(f"rank-{rank} identification rate", f"{rate:.4f}")
    table.add_row("FPIR / FNIR at the bundle's threshold", f"{_rate(result['fpir'], 4)} / {_rate(result['fnir'], 4)}")
    for row in result["fnir_at_fpir"]:
        table.add_row(f"FNIR at FPIR {row['target_fpir']:g}", _rate(row["fnir"], 4))
    retrieval = result["retrieval"]
    table.add_row("precision at 1 / R-precision / MAP@R (leave one out)", " / ".join(
        f"{retrieval[key]:.4f}" for key in ("precision_at_1", "r_precision", "map_at_r")
    ))  # fmt: skip
    return table


def _rate(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
