"""Errors the service answers with a JSON `{"detail": "..."}` and a 4xx status.

Each class fixes its HTTP status, so the code that detects a problem names it once and the app turns every
one of them into the same one-line JSON shape.
"""

from __future__ import annotations

from siamkit.errors import SiamkitError


class ServiceError(SiamkitError):
    """A request the service refuses; `status_code` is the HTTP status it is answered with."""

    status_code = 400


class UnauthorizedError(ServiceError):
    """A write request without the right bearer token."""

    status_code = 401


class WritesDisabledError(ServiceError):
    """A write request while no token is configured, so nobody may write."""

    status_code = 403


class UnknownIdentityError(ServiceError):
    """The identity named in the request is not enrolled."""

    status_code = 404


class NoGalleryError(ServiceError):
    """A gallery endpoint was called but the service was started without a gallery."""

    status_code = 409


class UploadTooLargeError(ServiceError):
    """The request body is larger than the configured limit."""

    status_code = 413


class NotAnImageError(ServiceError):
    """An uploaded file is not in any image format Pillow reads."""

    status_code = 415


class BadUploadError(ServiceError):
    """An upload or form field is malformed: a truncated image, too many pixels, bad metadata, ..."""

    status_code = 422
