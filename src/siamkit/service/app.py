"""`create_app`: the FastAPI application of `siamkit serve`.

Endpoints (multipart uploads; every error is JSON `{"detail": "<one line>"}` with a 4xx status):

    GET    /healthz                   model fingerprint, gallery loaded, identity count
    GET    /v1/model                  the served model's card: network, input, threshold and how it was chosen
    POST   /v1/verify                 files `first`, `second` -> decision, score, threshold, probability
    POST   /v1/identify               file `image`, form `top_k` -> open-set decision and candidates
    POST   /v1/verify-claim           file `image`, form `identity` [, `scoring`] -> decision for the claimed identity
    POST   /v1/identities             form `identity`, files `images`, form `metadata` (JSON) -> 201 (token)
    DELETE /v1/identities/{identity}  -> removed (token)
    GET    /v1/identities             enrolled identities with reference counts and metadata
    GET    /                          the web page; /static/... its files; /docs the OpenAPI documentation
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from siamkit import __version__
from siamkit.errors import SiamkitError
from siamkit.service.auth import check_bearer_token
from siamkit.service.config import ServiceConfig
from siamkit.service.engine import ServiceEngine
from siamkit.service.errors import BadUploadError, ServiceError, UnauthorizedError
from siamkit.service.schemas import (
    ClaimResponse,
    ClaimScoring,
    EnrolResponse,
    ErrorResponse,
    HealthResponse,
    IdentifyResponse,
    IdentitiesResponse,
    ModelCardResponse,
    RemoveResponse,
    VerifyResponse,
)
from siamkit.service.upload_limit import UploadLimitMiddleware
from siamkit.service.uploads import DecodedImage

logger = logging.getLogger(__name__)

STATIC_DIRECTORY = Path(__file__).parent / "static"

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 404, 409, 413, 415, 422)
}

# auto_error=False: a missing or malformed header is answered by `check_bearer_token` with a clearer message.
_BEARER = HTTPBearer(auto_error=False, description="The token set in the server's SIAMKIT_TOKEN.")


def create_app(config: ServiceConfig) -> FastAPI:
    """Loads the model (and gallery) and builds the application.

    Loading happens here rather than at server start-up, so a bad bundle or a locked, corrupt or foreign
    gallery is reported (as a `SiamkitError`) before the server binds its port.

    Args:
        config: The service configuration.

    Raises:
        SiamkitError: The bundle or gallery cannot be served; the message says why in one line.
    """
    engine = ServiceEngine(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.close()

    app = FastAPI(
        title="siamkit",
        version=__version__,
        description="Verify pairs of images, identify images against a gallery and enrol identities.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.add_middleware(UploadLimitMiddleware, max_bytes=config.max_upload_bytes)
    _install_error_handlers(app)

    async def read_image(upload: UploadFile, field: str, thumbnail: bool = False) -> DecodedImage:
        name = f"{field} ({upload.filename})" if upload.filename else field
        return await engine.decode(await upload.read(), name, thumbnail)

    @app.get("/healthz", response_model=HealthResponse, tags=["service"])
    async def healthz() -> dict[str, Any]:
        """Whether the service is up, which model it serves and whether a gallery is loaded."""
        return await engine.health()

    @app.get("/v1/model", response_model=ModelCardResponse, tags=["service"])
    async def model_card() -> dict[str, Any]:
        """The served model's card (`siamkit info`): network, input, decision threshold and how it was chosen."""
        if engine.model_card is None:
            raise HTTPException(404, "the served network was built from a custom module and has no model card")
        return engine.model_card

    @app.post("/v1/verify", response_model=VerifyResponse, responses=_ERRORS, tags=["verification"])
    async def verify(
        first: Annotated[UploadFile, File(description="The first image.")],
        second: Annotated[UploadFile, File(description="The second image.")],
    ) -> dict[str, Any]:
        """Decides whether two images show the same identity."""
        images = await asyncio.gather(read_image(first, "first"), read_image(second, "second"))
        return await engine.verify(*images)

    @app.post("/v1/identify", response_model=IdentifyResponse, responses=_ERRORS, tags=["gallery"])
    async def identify(
        image: Annotated[UploadFile, File(description="The image to identify.")],
        top_k: Annotated[int, Form(ge=1, le=100, description="How many candidate identities to return.")] = 5,
    ) -> dict[str, Any]:
        """Finds the enrolled identities most like the image; `identity` is null when none passes the threshold."""
        return await engine.identify(await read_image(image, "image"), top_k)

    @app.post("/v1/verify-claim", response_model=ClaimResponse, responses=_ERRORS, tags=["gallery"])
    async def verify_claim(
        image: Annotated[UploadFile, File(description="The image to check.")],
        identity: Annotated[str, Form(min_length=1, description="The claimed, enrolled identity.")],
        scoring: Annotated[
            ClaimScoring | None,
            Form(
                description="How the scores against the identity's references combine; the gallery's policy if unset."
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Decides whether the image shows the claimed identity (404 when the identity is not enrolled)."""
        return await engine.verify_claim(identity, await read_image(image, "image"), scoring)

    @app.post(
        "/v1/identities",
        response_model=EnrolResponse,
        status_code=201,
        responses=_ERRORS,
        tags=["gallery"],
        dependencies=[Depends(require_write_token)],
    )
    async def enrol(
        identity: Annotated[str, Form(min_length=1, max_length=256, description="The identity's name.")],
        images: Annotated[list[UploadFile], File(description="One or more reference images.")],
        metadata: Annotated[
            str | None, Form(description='A JSON object of string values, e.g. {"team": "ops"}.')
        ] = None,
    ) -> dict[str, Any]:
        """Enrols reference images under an identity (creating it); needs the bearer token."""
        if not identity.strip():
            raise BadUploadError("identity must not be blank")
        if len(images) > config.max_enrol_images:
            raise BadUploadError(
                f"images: {len(images)} files, more than the {config.max_enrol_images} one enrolment may carry"
            )
        fields = _parse_metadata(metadata)
        decoded = await asyncio.gather(
            *(read_image(upload, f"images[{index}]", thumbnail=index == 0) for index, upload in enumerate(images))
        )
        return await engine.enrol(identity, decoded, fields)

    @app.delete(
        "/v1/identities/{identity}",
        response_model=RemoveResponse,
        responses=_ERRORS,
        tags=["gallery"],
        dependencies=[Depends(require_write_token)],
    )
    async def remove(identity: str) -> dict[str, Any]:
        """Deletes an identity and all its references; needs the bearer token."""
        return await engine.remove(identity)

    @app.get("/v1/identities", response_model=IdentitiesResponse, responses=_ERRORS, tags=["gallery"])
    async def identities(
        offset: Annotated[int, Query(ge=0, description="Identities to skip (sorted by name).")] = 0,
        limit: Annotated[int | None, Query(ge=1, description="Most identities to return; all by default.")] = None,
    ) -> dict[str, Any]:
        """Enrolled identities with their reference counts and metadata."""
        return await engine.identities(offset, limit)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        page = STATIC_DIRECTORY / "index.html"
        if not page.is_file():
            raise HTTPException(404, "the web page is not installed (siamkit/service/static/index.html is missing)")
        return FileResponse(page)

    # check_dir=False: the app still serves the API when the page's files are not there.
    app.mount("/static", StaticFiles(directory=STATIC_DIRECTORY, check_dir=False), name="static")
    return app


def require_write_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)], request: Request
) -> None:
    """Dependency of the write endpoints: refuses the request unless it carries the service's bearer token."""
    header = request.headers.get("authorization") if credentials is None else f"Bearer {credentials.credentials}"
    check_bearer_token(header, request.app.state.engine.config.token)


def _parse_metadata(text: str | None) -> dict[str, str]:
    """The `metadata` form field: a JSON object whose values are strings."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadUploadError(f"metadata: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise BadUploadError(f"metadata: must be a JSON object, got {type(data).__name__}")
    for key, value in data.items():
        if not isinstance(value, str):
            raise BadUploadError(f"metadata: value of {key!r} must be a string, got {json.dumps(value)}")
    return data


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _install_error_handlers(app: FastAPI) -> None:
    """Makes every error a JSON `{"detail": "<one line>"}`."""

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, error: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, UnauthorizedError) else None
        return JSONResponse({"detail": _one_line(str(error))}, status_code=error.status_code, headers=headers)

    @app.exception_handler(SiamkitError)
    async def library_error(_: Request, error: SiamkitError) -> JSONResponse:
        # The library raises these for input it cannot use (bad embeddings, identities, configuration).
        return JSONResponse({"detail": _one_line(str(error))}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for problem in error.errors():
            location = ".".join(str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path"))
            problems.append(f"{location or 'request'}: {problem.get('msg', 'invalid')}")
        return JSONResponse({"detail": _one_line("; ".join(problems) or "invalid request")}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, error: Exception) -> JSONResponse:
        logger.error("unexpected error while serving a request", exc_info=error)
        return JSONResponse({"detail": "internal error; see the server's log"}, status_code=500)
