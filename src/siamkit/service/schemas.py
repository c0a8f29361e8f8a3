"""Response shapes of the HTTP API, declared for validation and for the OpenAPI documentation at `/docs`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every error: a 4xx status with a one-line message."""

    detail: str = Field(description="What was wrong with the request, in one line.")


class HealthResponse(BaseModel):
    status: str = Field(description="Always `ok` when the service answers.")
    model: str = Field(description="The served model's fingerprint.")
    engine: str = Field(
        description="What embeds images: `pytorch`, or `onnxruntime` or `onnxruntime-int8` (`siamkit serve --onnx`)."
    )
    gallery: bool = Field(description="Whether a gallery is loaded (identification endpoints available).")
    identities: int = Field(description="Enrolled identities (0 without a gallery).")


class ModelCardResponse(BaseModel):
    fingerprint: str = Field(description="The served model's fingerprint (weights + preprocessing).")
    parameters: int = Field(description="Trainable parameters.")
    encoder: dict[str, Any] = Field(description="The encoder, unfolded through test-time views and ensembles.")
    comparison: dict[str, Any] = Field(description="The comparison and whether larger scores mean more alike.")
    preprocessing: dict[str, Any] = Field(description="How uploaded images are prepared, as stored in the bundle.")
    decision: dict[str, Any] = Field(
        description="The threshold, the probability map and how the threshold was chosen (`provenance`)."
    )
    training: dict[str, Any] = Field(description="What the bundle's metadata says of its training or source.")


class VerifyResponse(BaseModel):
    same: bool = Field(description="The decision at `threshold`.")
    score: float = Field(description="The comparison's raw score (a distance, or a probability for learned heads).")
    threshold: float = Field(description="The model's decision threshold on `score`.")
    probability: float | None = Field(description="Calibrated probability of `same`, if the model is calibrated.")
    similarity: float = Field(description="The score turned so that higher always means more alike.")


class Candidate(BaseModel):
    identity: str
    score: float = Field(description="The best score over the identity's references.")
    similarity: float = Field(description="The score turned so that higher always means more alike.")
    thumbnail: str | None = Field(description="A `data:image/png;base64,...` of the first enrolled image, if any.")


class IdentifyResponse(BaseModel):
    identity: str | None = Field(description="The best identity if its score passes the threshold, else null.")
    known: bool = Field(description="Whether `identity` is set (open-set decision).")
    threshold: float
    candidates: list[Candidate] = Field(description="Up to `top_k` identities, best first.")
    warning: str | None = Field(
        default=None,
        description="Set when the gallery's identification threshold was fitted on a much smaller gallery: more "
        "strangers than it was fitted for will be named until it is calibrated again.",
    )


# `siamkit.gallery.claims.CLAIM_SCORINGS`, spelt out so that the API schema lists the choices.
ClaimScoring = Literal["mean", "best", "centroid"]


class ClaimResponse(BaseModel):
    identity: str
    same: bool = Field(description="Whether the image matches the claimed identity.")
    scoring: ClaimScoring = Field(description="How the scores against the identity's references were combined.")
    references: int = Field(description="How many references the identity has.")
    score: float = Field(description="The image's score against the identity's references, combined by `scoring`.")
    similarity: float
    threshold: float


class EnrolResponse(BaseModel):
    identity: str
    references: int = Field(description="The identity's references after this enrolment.")
    added: int = Field(description="References added by this request.")


class RemoveResponse(BaseModel):
    identity: str
    removed: bool


class IdentityRow(BaseModel):
    identity: str
    references: int
    metadata: dict[str, str]


class IdentitiesResponse(BaseModel):
    identities: list[IdentityRow] = Field(description="Enrolled identities sorted by name (one page of them).")
    total: int = Field(description="All enrolled identities.")
