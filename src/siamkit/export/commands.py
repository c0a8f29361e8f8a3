"""`siamkit export`: a thin adapter over `siamkit.export.export_onnx`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from siamkit.export.quantization import MIN_CALIBRATION_IMAGES


def export_command(
    model: Annotated[Path, typer.Option(help="Model bundle folder.")],
    output: Annotated[
        Path, typer.Option(help="The export folder to write (atomically; an earlier export is replaced).")
    ],
    int8_calibration: Annotated[
        str | None,
        typer.Option(
            help="Make the encoder 8-bit (often smaller and faster on CPUs), its ranges set on images of this "
            "folder or zip; its drift from float32 is measured on others and printed."
        ),
    ] = None,
    calibration_images: Annotated[
        int,
        typer.Option(
            min=MIN_CALIBRATION_IMAGES,
            help="With --int8-calibration: images drawn from it (2/3 set ranges, 1/3 check).",
        ),
    ] = 300,
    min_cosine: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="With --int8-calibration: refuse an encoder whose embeddings drift below this cosine.",
        ),
    ] = 0.98,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Write the bundle as ONNX graphs (encoder, comparison) with a manifest, checked against PyTorch."""
    import siamkit
    from siamkit.export import export_onnx
    from siamkit.export.quantization import QuantizationConfig

    quantization = None
    if int8_calibration is not None:
        quantization = QuantizationConfig(int8_calibration, max_images=calibration_images, min_cosine=min_cosine)
    result = export_onnx(siamkit.load(model), output, quantization=quantization)
    summary = {
        "output": str(result.folder),
        "opset": result.opset,
        "files": {role: str(path) for role, path in result.files.items()},
        "sizes_bytes": {role: path.stat().st_size for role, path in result.files.items()},
        "max_abs_difference_from_pytorch": result.max_abs_differences,
        "int8": {role: entry["check"] for role, entry in result.quantization.items()},
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    for role, path in result.files.items():
        if role in result.quantization:
            check = result.quantization[role]["check"]
            accuracy = (
                f"int8; cosine to float32 at least {check['worst_cosine']:.4f}, mean relative error "
                f"{check['mean_relative_error']:.3f} on {check['n_check_images']} held-back images"
            )
        else:
            accuracy = f"largest difference from PyTorch {result.max_abs_differences[role]:.2g}"
        typer.echo(f"{role:<15} {path} ({path.stat().st_size / 1e6:.1f} MB; {accuracy})")
    typer.echo(f"wrote {result.folder} (ONNX opset {result.opset}); the manifest is {result.folder}/siamkit-onnx.json")
