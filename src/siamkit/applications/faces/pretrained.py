"""A siamkit face model from dlib's pretrained face-recognition network.

A face verifier trained on ORL's 40 people cannot learn what makes faces differ in general; dlib's network was
trained by metric learning on about three million faces of some 7,500 people, and its 128-d descriptors
separate people it never saw. This module rebuilds that network in PyTorch (`dlib_face_resnet`), loads its
weights from the `face_recognition_models` package (no download), and pairs it with dlib's alignment
(`PreprocessingConfig.align_faces`), so the result is an ordinary siamkit bundle: it verifies, embeds,
calibrates, enrols into galleries, serves and fine-tunes (`siamkit train --init-from`) like any other.
"""

from __future__ import annotations

from pathlib import Path

from siamkit.bundle import threshold_provenance
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.encoders.dlib_weights import default_weights_file, read_dlib_face_weights
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork

# dlib's documented decision rule for its descriptors: the same person below this Euclidean distance.
DLIB_THRESHOLD = 0.6
CHIP_SIZE = 150


def dlib_face_model(weights_file: str | Path | None = None) -> SiameseModel:
    """dlib's face network as a `SiameseModel`: aligned 150x150 RGB chips, 128-d descriptors, Euclidean
    distance, and dlib's own threshold (0.6) until `siamkit calibrate` sets one for the user's data.

    Args:
        weights_file: dlib's `dlib_face_recognition_resnet_model_v1.dat`; defaults to the installed
            `face_recognition_models` package's copy.
    """
    config = SiameseConfig(
        encoder=EncoderConfig("dlib_face_resnet", (3, CHIP_SIZE, CHIP_SIZE), 128),
        comparison=ComparisonConfig("euclidean"),
        normalize_embeddings=False,
    )
    network = SiameseNetwork.from_config(config)
    network.encoder.load_state_dict(read_dlib_face_weights(weights_file), strict=True)
    preprocessing = PreprocessingConfig(
        kind="image", image_size=(CHIP_SIZE, CHIP_SIZE), channels=3, align_faces=True, mean=0.0, std=1.0
    )
    source = Path(weights_file) if weights_file is not None else default_weights_file()
    metadata = {
        "pretrained": {
            "source": "dlib_face_recognition_resnet_model_v1 (face_recognition_models package)",
            "file": source.name,
            "license": "CC0 1.0 (dlib's face recognition model)",
        }
    }
    provenance = threshold_provenance(
        "dlib's documented rule for its descriptors (same person below distance 0.6)", method="fixed"
    )
    return SiameseModel(
        network, preprocessing, threshold=DLIB_THRESHOLD, metadata=metadata, threshold_provenance=provenance
    )
