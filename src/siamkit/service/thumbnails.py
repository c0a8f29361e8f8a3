"""Small PNG thumbnails of enrolled identities, kept as a data URI in the identity's gallery metadata.

Keeping the thumbnail in the metadata puts it in the gallery's SQLite file, written in the same transaction as
the identity's references, so a gallery never has an identity without its picture or the other way round, and
export/import carries it along.
"""

from __future__ import annotations

import base64
import io

from PIL import Image

# The metadata key reserved for the thumbnail; clients may not set it and listings do not show it.
THUMBNAIL_METADATA_KEY = "siamkit.thumbnail"

_PNG_DATA_URI_PREFIX = "data:image/png;base64,"


def thumbnail_data_uri(image: Image.Image, size: int) -> str:
    """A `data:image/png;base64,...` URI of `image` scaled to fit in `size` x `size` pixels.

    Args:
        image: A decoded image of any mode.
        size: The longest side of the thumbnail in pixels (images are never enlarged).
    """
    picture = image if image.mode in ("1", "L", "LA", "RGB", "RGBA") else image.convert("RGBA")
    picture = picture.copy()
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return _PNG_DATA_URI_PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")
