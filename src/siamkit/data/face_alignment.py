"""Face alignment: find the face, locate eyes and nose, and cut a rotated, scaled square chip around them.

A face model compares faces, not photos: the same person photographed nearer, tilted or off-centre must give
the same input. This is what dlib's face-recognition network was trained on (and what deepface and
face_recognition do before embedding): dlib's HOG face detector, its 5-point landmark model (eye corners and
nose), and `get_face_chip`, which maps the landmarks to fixed positions in a square chip with 25% margin.

dlib and the landmark model come with `pip install 'siamkit[faces]'` (`dlib-bin`, `face_recognition_models`);
nothing is downloaded. An image where no face is found is taken to be a face crop already (as ORL's and most
verification datasets' images are), and the landmarks are located in the whole image.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import numpy as np
from PIL import Image

from siamkit.errors import DataError

logger = logging.getLogger(__name__)

# dlib's detector finds faces of about 80 pixels and up; small photos are upsampled (each step doubles the
# side) until their shorter side reaches this, at most twice.
DETECTION_MIN_SIDE = 300
MAX_UPSAMPLING = 2
# Larger photos are searched at this longest side (HOG detection time grows with the pixel count; a face that is
# a few percent of a 12-megapixel photo is still well over the detector's minimum here), and the box is scaled back.
DETECTION_MAX_SIDE = 1024
# The margin dlib's face-recognition network was trained with, as a fraction of the landmarks' extent.
CHIP_PADDING = 0.25

_LOCK = threading.Lock()


@functools.cache
def _dlib_models() -> tuple[Any, Any, Any]:
    """dlib, its frontal face detector and the 5-point landmark model, loaded once per process."""
    try:
        import dlib
    except ImportError:
        raise DataError("preprocessing.align_faces needs dlib: pip install 'siamkit[faces]'") from None
    from siamkit.encoders.dlib_weights import face_models_folder

    landmarks_file = face_models_folder() / "shape_predictor_5_face_landmarks.dat"
    if not landmarks_file.is_file():
        raise DataError(f"{landmarks_file}: dlib's 5-point landmark model is missing; reinstall siamkit[faces]")
    return dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmarks_file))


def upsampling_for(height: int, width: int) -> int:
    """How many times the detector doubles an image of this size before looking for faces."""
    steps = 0
    while min(height, width) * 2**steps < DETECTION_MIN_SIDE and steps < MAX_UPSAMPLING:
        steps += 1
    return steps


def align_face(image: Image.Image, size: int) -> np.ndarray:
    """The aligned `(size, size, 3)` uint8 RGB chip of the largest face in `image`.

    Args:
        image: Any decoded image; converted to RGB.
        size: Side of the square chip (dlib's network was trained on 150).
    """
    dlib, detector, landmarks = _dlib_models()
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    height, width = rgb.shape[:2]
    scale = min(1.0, DETECTION_MAX_SIDE / max(height, width))
    searched = rgb
    if scale < 1.0:
        small = Image.fromarray(rgb).resize((round(width * scale), round(height * scale)), Image.Resampling.BILINEAR)
        searched = np.ascontiguousarray(np.asarray(small, dtype=np.uint8))
    with _LOCK:  # dlib's detector and predictor objects are not documented as thread-safe
        faces = list(detector(searched, upsampling_for(*searched.shape[:2])))
        if faces:
            found = max(faces, key=lambda face: face.width() * face.height())
            box = dlib.rectangle(
                round(found.left() / scale),
                round(found.top() / scale),
                round(found.right() / scale),
                round(found.bottom() / scale),
            )
        else:
            logger.debug("no face found in a %dx%d image; using the whole image as the face", width, height)
            box = dlib.rectangle(0, 0, width - 1, height - 1)
        shape = landmarks(rgb, box)
        chip = dlib.get_face_chip(rgb, shape, size=size, padding=CHIP_PADDING)
    return np.asarray(chip, dtype=np.uint8)
