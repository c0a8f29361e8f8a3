"""The HTTP service (`siamkit serve`): verification, identification and enrolment over FastAPI.

from siamkit.service import ServiceConfig, create_app, serve
app = create_app(ServiceConfig(model_path="models/faces", gallery_path="staff.gallery"))
"""

from siamkit.service.app import create_app
from siamkit.service.config import ServiceConfig
from siamkit.service.runner import serve

__all__ = ["ServiceConfig", "create_app", "serve"]
