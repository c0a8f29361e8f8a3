"""Encoders (m1): networks that map one input to an embedding, picked by name.

Every encoder module here registers itself in `ENCODERS`; `create_encoder(config)` builds one. Each maps a
batch shaped `(B, *input_shape)` to `(B, embedding_dim)`.
"""

from siamkit.encoders import (  # noqa: F401  (imports register the encoders)
    conv4,
    dlib_face_resnet,
    ensemble,
    koch,
    mlp,
    resnet,
    signet,
    test_time_views,
)
from siamkit.encoders.base import ENCODERS, EncoderConfig, create_encoder, encoder_names

__all__ = ["ENCODERS", "EncoderConfig", "create_encoder", "encoder_names"]
