"""The gallery's user-facing error."""

from siamkit.errors import DataError


class GalleryError(DataError):
    """A gallery file is missing, corrupt, of another schema or model, or an identity is unknown."""
