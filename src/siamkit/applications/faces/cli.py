"""`siamkit import-face-model`: dlib's pretrained face network as a siamkit bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def import_face_model_command(
    output: Annotated[Path, typer.Option(help="Bundle folder to write (atomically).")],
    weights: Annotated[
        Path | None,
        typer.Option(help="dlib_face_recognition_resnet_model_v1.dat (default: the face_recognition_models copy)."),
    ] = None,
    full_precision: Annotated[
        bool, typer.Option("--full-precision", help="Store float32 weights (22 MB) instead of float16 (11 MB).")
    ] = False,
) -> None:
    """Write dlib's face-recognition network (pretrained on ~3 M faces) as a bundle with face alignment.

    The bundle verifies, embeds, calibrates (`siamkit calibrate`), serves and fine-tunes
    (`siamkit train --init-from`) like any trained one. Needs `pip install 'siamkit[faces]'`.
    """
    from siamkit.applications.faces.pretrained import dlib_face_model

    model = dlib_face_model(weights)
    fingerprint = model.save(output, half_precision=not full_precision)
    typer.echo(f"wrote {output} (fingerprint {fingerprint[:12]}, threshold {model.threshold})")
