"""Face verification with a pretrained encoder: dlib's face-recognition ResNet imported into a siamkit bundle."""

from siamkit.applications.faces.pretrained import DLIB_THRESHOLD, dlib_face_model

__all__ = ["DLIB_THRESHOLD", "dlib_face_model"]
