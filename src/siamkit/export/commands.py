"""`siamkit export`: a thin adapter over `siamkit.export.export_onnx`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def export_command(
    model: Annotated[Path, typer.Option(help="Model bundle folder.")],
    output: Annotated[
        Path, typer.Option(help="The export folder to write (atomically; an earlier export is replaced).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Write the bundle as ONNX graphs (encoder, comparison) with a manifest, checked against PyTorch."""
    import siamkit
    from siamkit.export import export_onnx

    result = export_onnx(siamkit.load(model), output)
    summary = {
        "output": str(result.folder),
        "opset": result.opset,
        "files": {role: str(path) for role, path in result.files.items()},
        "sizes_bytes": {role: path.stat().st_size for role, path in result.files.items()},
        "max_abs_difference_from_pytorch": result.max_abs_differences,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    for role, path in result.files.items():
        typer.echo(
            f"{role:<15} {path} ({path.stat().st_size / 1e6:.1f} MB; "
            f"largest difference from PyTorch {result.max_abs_differences[role]:.2g})"
        )
    typer.echo(f"wrote {result.folder} (ONNX opset {result.opset}); the manifest is {result.folder}/siamkit-onnx.json")
