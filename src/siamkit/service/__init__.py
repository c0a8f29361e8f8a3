"""The HTTP service (`siamkit serve`): verification, identification and enrolment over FastAPI.

from siamkit.service import ServiceConfig, create_app, serve
app = create_app(ServiceConfig(model_path="models/faces", gallery_path="staff.gallery"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from siamkit.service.config import ServiceConfig

if TYPE_CHECKING:
    from siamkit.service.app import create_app
    from siamkit.service.runner import serve

__all__ = ["ServiceConfig", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    # FastAPI and uvicorn are imported on first use, so the rest of the command line does not wait for them.
    if name == "create_app":
        from siamkit.service.app import create_app

        return create_app
    if name == "serve":
        from siamkit.service.runner import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
