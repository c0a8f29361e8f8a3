"""Bearer-token check for the service's write endpoints (enrol, remove)."""

from __future__ import annotations

import hmac
import os

from siamkit.service.config import TOKEN_ENVIRONMENT_VARIABLE
from siamkit.service.errors import UnauthorizedError, WritesDisabledError


def expected_token(configured: str | None) -> str | None:
    """The token writes must present: the configured one, else `SIAMKIT_TOKEN` (None or empty: writes refused)."""
    token = configured if configured is not None else os.environ.get(TOKEN_ENVIRONMENT_VARIABLE)
    return token or None


def check_bearer_token(authorization: str | None, configured: str | None) -> None:
    """Refuses a write unless its `Authorization` header carries the expected bearer token.

    Args:
        authorization: The request's `Authorization` header, if any.
        configured: `ServiceConfig.token`.

    Raises:
        WritesDisabledError: No token is configured, so the service accepts no writes at all.
        UnauthorizedError: The header is missing, not a bearer token, or the wrong token.
    """
    token = expected_token(configured)
    if token is None:
        raise WritesDisabledError(
            f"writes are disabled: set {TOKEN_ENVIRONMENT_VARIABLE} to a secret token before starting the service, "
            "then send it as `Authorization: Bearer <token>`"
        )
    if authorization is None:
        raise UnauthorizedError("this endpoint needs an `Authorization: Bearer <token>` header")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise UnauthorizedError("the Authorization header must be `Bearer <token>`")
    # A constant-time comparison does not reveal how much of a guessed token was right.
    if not hmac.compare_digest(credentials.strip().encode(), token.encode()):
        raise UnauthorizedError("wrong bearer token")
