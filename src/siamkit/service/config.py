"""`ServiceConfig`: everything `siamkit serve` needs to know, passed explicitly to `create_app`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from siamkit.data.preprocessing import MAX_IMAGE_PIXELS
from siamkit.errors import ConfigError

# The environment variable holding the bearer token that write requests must present.
TOKEN_ENVIRONMENT_VARIABLE = "SIAMKIT_TOKEN"


@dataclass
class ServiceConfig:
    """How the HTTP service runs.

    Attributes:
        model_path: The model bundle folder to serve.
        onnx_path: An ONNX export of that bundle (`siamkit export`) to embed with in ONNX Runtime, 1.7-2.3 times
            faster than PyTorch on a CPU; None embeds with PyTorch. An export of other weights is refused.
        gallery_path: A gallery file for the identification endpoints; None serves verification only.
        create_gallery: Create `gallery_path` when it does not exist yet (an existing file is never overwritten).
        host: Interface to bind; loopback by default so nothing is exposed by accident.
        port: TCP port to bind.
        max_upload_bytes: Largest request body accepted (all files of one request together).
        max_pixels: Largest image (width x height) decoded; bigger ones are refused from their header alone.
        max_enrol_images: Most images one enrolment request may carry.
        max_batch_images: Most images the micro-batcher puts into one embedding call.
        batch_wait_seconds: How long the micro-batcher waits for more requests before embedding a batch.
        thumbnail_size: Longest side, in pixels, of the PNG thumbnail stored for an identity at enrolment.
        token: Bearer token for writes; None reads `SIAMKIT_TOKEN` from the environment at each request.
        log_level: uvicorn's log level.
    """

    model_path: Path
    onnx_path: Path | None = None
    gallery_path: Path | None = None
    create_gallery: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = MAX_IMAGE_PIXELS
    max_enrol_images: int = 100
    max_batch_images: int = 64
    batch_wait_seconds: float = 0.002
    thumbnail_size: int = 64
    token: str | None = None
    log_level: str = "info"

    def __post_init__(self) -> None:
        self.model_path = Path(self.model_path)
        if self.onnx_path is not None:
            self.onnx_path = Path(self.onnx_path)
        if self.gallery_path is not None:
            self.gallery_path = Path(self.gallery_path)
        positive = {
            "port": self.port,
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
            "max_enrol_images": self.max_enrol_images,
            "max_batch_images": self.max_batch_images,
            "thumbnail_size": self.thumbnail_size,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"service {name} must be a positive integer, got {value!r}")
        if self.port > 65535:
            raise ConfigError(f"service port must be at most 65535, got {self.port}")
        if not 0 <= self.batch_wait_seconds <= 1:
            raise ConfigError(f"service batch_wait_seconds must be between 0 and 1, got {self.batch_wait_seconds}")
