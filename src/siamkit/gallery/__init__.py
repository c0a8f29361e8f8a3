"""Galleries of enrolled identities for open-set identification and claim verification."""

from siamkit.gallery.claims import CLAIM_SCORINGS
from siamkit.gallery.errors import GalleryError
from siamkit.gallery.gallery import ClaimResult, Gallery, IdentificationResult
from siamkit.gallery.search_config import SearchConfig
from siamkit.gallery.storage import SCHEMA_VERSION

__all__ = [
    "CLAIM_SCORINGS",
    "SCHEMA_VERSION",
    "ClaimResult",
    "Gallery",
    "GalleryError",
    "IdentificationResult",
    "SearchConfig",
]
