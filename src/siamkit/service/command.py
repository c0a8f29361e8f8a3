"""`siamkit serve`: the command-line entry to the HTTP service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siamkit.data.preprocessing import MAX_IMAGE_PIXELS


def serve_command(
    model: Annotated[Path, typer.Option(help="Model bundle folder to serve.")],
    onnx: Annotated[
        Path | None,
        typer.Option(help="An ONNX export of the bundle (siamkit export): embed with ONNX Runtime, faster on CPUs."),
    ] = None,
    gallery: Annotated[
        Path | None, typer.Option(help="Gallery file for identification and enrolment (created if absent).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind; the default is reachable from this machine only.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    max_upload_mb: Annotated[float, typer.Option(help="Largest request body in MiB.")] = 10.0,
    max_pixels: Annotated[int, typer.Option(help="Largest image (width x height) decoded.")] = MAX_IMAGE_PIXELS,
    max_batch_images: Annotated[
        int, typer.Option(help="Most images one model call embeds for concurrent requests (1 turns batching off).")
    ] = 64,
    batch_wait_ms: Annotated[
        float, typer.Option(help="How long the first request of a batch waits for others to join, in ms.")
    ] = 2.0,
) -> None:
    """Serve verification, identification and enrolment over HTTP (writes need SIAMKIT_TOKEN)."""
    from siamkit.errors import ConfigError
    from siamkit.service import ServiceConfig, serve

    if max_upload_mb <= 0:
        raise ConfigError(f"--max-upload-mb must be positive, got {max_upload_mb}")
    config = ServiceConfig(
        model_path=model,
        onnx_path=onnx,
        gallery_path=gallery,
        host=host,
        port=port,
        max_upload_bytes=int(max_upload_mb * 2**20),
        max_pixels=max_pixels,
        max_batch_images=max_batch_images,
        batch_wait_seconds=batch_wait_ms / 1000.0,
    )
    serve(config)
