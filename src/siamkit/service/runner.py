"""`serve`: runs the service with uvicorn until interrupted."""

from __future__ import annotations

import logging

import uvicorn

from siamkit.service.app import create_app
from siamkit.service.auth import expected_token
from siamkit.service.config import TOKEN_ENVIRONMENT_VARIABLE, ServiceConfig

logger = logging.getLogger(__name__)


def serve(config: ServiceConfig) -> None:
    """Loads the model and gallery, then serves HTTP on `config.host:config.port` until interrupted.

    Raises:
        SiamkitError: The bundle or gallery cannot be served (raised before the port is bound).
    """
    app = create_app(config)
    if expected_token(config.token) is None:
        logger.warning("%s is not set: enrolment and removal are refused", TOKEN_ENVIRONMENT_VARIABLE)
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: reachable from other machines; put TLS in front of it", config.host)
    uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level)
