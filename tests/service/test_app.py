"""The HTTP API against the real app and a real (tiny) model bundle, through httpx.

Scores are checked against hand-computed distances: the test model embeds a 4x4 grey image as its pixels, so
two uniform images of grey levels `a` and `b` are `4 * |a - b| / 255` apart (threshold 1.0).
"""

from __future__ import annotations

import asyncio
import base64
import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import httpx
import numpy as np
import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.gallery import CLAIM_SCORINGS, Gallery
from siamkit.gallery.claims import ClaimPolicy
from siamkit.model import SiameseModel
from siamkit.model_card import describe_bundle
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.service import ServiceConfig, create_app
from siamkit.service import app as app_module
from siamkit.service.schemas import ClaimScoring

TOKEN = "test-token"
WRITE = {"Authorization": f"Bearer {TOKEN}"}


def png(grey_level: int, size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size), grey_level, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def distance(first_level: int, second_level: int) -> float:
    return 4 * abs(first_level - second_level) / 255


def image_file(level: int, name: str = "image.png") -> tuple[str, bytes, str]:
    return (name, png(level), "image/png")


def one_line_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


@pytest.fixture
def gallery_client(model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SIAMKIT_TOKEN", TOKEN)
    config = ServiceConfig(model_path=model_path, gallery_path=tmp_path / "staff.gallery", max_upload_bytes=64 * 1024)
    with TestClient(create_app(config)) as client:
        yield client


@pytest.fixture
def plain_client(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SIAMKIT_TOKEN", TOKEN)
    with TestClient(create_app(ServiceConfig(model_path=model_path, max_upload_bytes=64 * 1024))) as client:
        yield client


def test_healthz_names_the_model_and_the_gallery(
    model_path: Path, gallery_client: TestClient, plain_client: TestClient
) -> None:
    fingerprint = SiameseModel.load(model_path).fingerprint
    assert gallery_client.get("/healthz").json() == {
        "status": "ok",
        "model": fingerprint,
        "engine": "pytorch",
        "gallery": True,
        "identities": 0,
    }
    assert plain_client.get("/healthz").json() == {
        "status": "ok",
        "model": fingerprint,
        "engine": "pytorch",
        "gallery": False,
        "identities": 0,
    }


@pytest.fixture(scope="module")
def onnx_export_path(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from siamkit.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "export"
    export_onnx(SiameseModel.load(model_path), path)
    return path


def test_an_int8_export_is_served_and_named_in_healthz(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siamkit.export import QuantizationConfig, export_onnx

    for group, levels in (("dark", range(0, 120, 12)), ("light", range(130, 250, 12))):
        (tmp_path / "calibration" / group).mkdir(parents=True)
        for level in levels:
            (tmp_path / "calibration" / group / f"{level}.png").write_bytes(png(level))
    export = tmp_path / "int8"
    export_onnx(SiameseModel.load(model_path), export, quantization=QuantizationConfig(tmp_path / "calibration"))
    monkeypatch.setenv("SIAMKIT_TOKEN", TOKEN)
    with TestClient(create_app(ServiceConfig(model_path=model_path, onnx_path=export))) as client:
        assert client.get("/healthz").json()["engine"] == "onnxruntime-int8"
        result = client.post("/v1/verify", files={"first": image_file(30), "second": image_file(200)}).json()
        # 8-bit activations: within a few grey levels of the float32 distance
        assert result["score"] == pytest.approx(distance(30, 200), abs=0.05) and result["same"] is False


def test_an_onnx_export_of_the_bundle_embeds_every_request(
    model_path: Path, onnx_export_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIAMKIT_TOKEN", TOKEN)
    config = ServiceConfig(model_path=model_path, onnx_path=onnx_export_path, gallery_path=tmp_path / "g.gallery")
    app = create_app(config)
    calls = []
    exported = app.state.engine.model.onnx_export
    real_embed = exported.embed
    monkeypatch.setattr(
        exported, "embed", lambda batch, branch=0: calls.append(len(batch)) or real_embed(batch, branch)
    )
    with TestClient(app) as client:
        assert client.get("/healthz").json()["engine"] == "onnxruntime"
        for first, second in [(0, 60), (30, 200)]:
            result = client.post("/v1/verify", files={"first": image_file(first), "second": image_file(second)}).json()
            assert result["score"] == pytest.approx(distance(first, second), abs=1e-5)
            assert result["same"] is (distance(first, second) <= 1.0)
        response = client.post(
            "/v1/identities", files={"images": image_file(100)}, data={"identity": "grey"}, headers=WRITE
        )
        assert response.status_code == 201, response.text
        found = client.post("/v1/identify", files={"image": image_file(110)}).json()
        assert found["identity"] == "grey"
        assert found["candidates"][0]["score"] == pytest.approx(distance(110, 100), abs=1e-5)
    assert sum(calls) == 2 + 2 + 1 + 1  # every image went through ONNX Runtime, none through PyTorch


def test_an_onnx_export_of_other_weights_is_refused_before_serving(model_path: Path, tmp_path: Path) -> None:
    from siamkit.errors import BundleError
    from siamkit.export import export_onnx

    other = SiameseModel.load(model_path)
    with torch.no_grad():
        other.network.encoder[1].weight.mul_(2.0)
    export_onnx(other, tmp_path / "other-export")
    with pytest.raises(BundleError, match=r"other-export: exported from another model \(fingerprint"):
        create_app(ServiceConfig(model_path=model_path, onnx_path=tmp_path / "other-export"))


def test_the_model_card_is_the_served_model_s(model_path: Path, plain_client: TestClient) -> None:
    card = plain_client.get("/v1/model").json()
    assert card == {
        key: value for key, value in describe_bundle(model_path).items() if key not in ("path", "size_bytes")
    }
    assert card["fingerprint"] == plain_client.get("/healthz").json()["model"]
    assert card["decision"]["threshold"] == 1.0 and card["comparison"]["higher_is_more_similar"] is False
    assert "/v1/model" in plain_client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(("first", "second"), [(0, 20), (0, 255), (200, 140)])
def test_verify_matches_hand_computed_distances(plain_client: TestClient, first: int, second: int) -> None:
    response = plain_client.post("/v1/verify", files={"first": image_file(first), "second": image_file(second)})
    assert response.status_code == 200, response.text
    result = response.json()
    expected = distance(first, second)
    assert result["score"] == pytest.approx(expected, abs=1e-5)
    assert result["similarity"] == pytest.approx(-expected, abs=1e-5)
    assert result["threshold"] == 1.0
    assert result["same"] is (expected <= 1.0)
    # The bundle's Platt calibration: sigmoid(3 * similarity + 2).
    assert result["probability"] == pytest.approx(1 / (1 + math.exp(-(3 * -expected + 2))), abs=1e-5)


def test_concurrent_requests_are_answered_correctly_and_embedded_in_shared_batches(model_path: Path) -> None:
    levels = [0, 30, 60, 90, 120, 150, 180, 210]
    # A full batch (all 16 images) is embedded at once; the long wait only matters if requests straggle.
    app = create_app(ServiceConfig(model_path=model_path, max_batch_images=2 * len(levels), batch_wait_seconds=1.0))
    engine = app.state.engine

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            requests = [
                client.post("/v1/verify", files={"first": image_file(level), "second": image_file(255 - level)})
                for level in levels
            ]
            return await asyncio.gather(*requests)

    try:
        responses = asyncio.run(send_all())
    finally:
        engine.close()
    for level, response in zip(levels, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["score"] == pytest.approx(distance(level, 255 - level), abs=1e-5)
    assert engine.batcher.embedded_images == 2 * len(levels)
    assert engine.batcher.embed_calls < len(levels)  # requests shared model calls


def huge_png_header(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR claims another size (CRC fixed): a decompression bomb's header in 70 bytes."""
    import struct
    import zlib

    data = bytearray(png(0, size=1))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_bad_uploads_are_one_line_json_4xx(plain_client: TestClient) -> None:
    good = image_file(0)
    text = ("notes.txt", b"this is not an image at all", "text/plain")
    detail = one_line_error(plain_client.post("/v1/verify", files={"first": good, "second": text}), 415)
    assert "second (notes.txt): not an image" in detail

    whole = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(whole, format="PNG")
    truncated = ("cut.png", whole.getvalue()[:300], "image/png")
    detail = one_line_error(plain_client.post("/v1/verify", files={"first": truncated, "second": good}), 422)
    assert "first (cut.png)" in detail and "truncated" in detail

    bomb = ("bomb.png", huge_png_header(20000, 20000), "image/png")
    assert len(bomb[1]) < 100
    detail = one_line_error(plain_client.post("/v1/verify", files={"first": good, "second": bomb}), 422)
    assert "second (bomb.png)" in detail and "pixels" in detail

    empty = ("empty.png", b"", "image/png")
    assert "empty" in one_line_error(plain_client.post("/v1/verify", files={"first": good, "second": empty}), 422)

    detail = one_line_error(plain_client.post("/v1/verify", files={"first": good}), 422)
    assert "second" in detail and "required" in detail.lower()
    one_line_error(plain_client.post("/v1/verify", data={"first": "text, not a file", "second": "x"}), 422)
    one_line_error(plain_client.post("/v1/verify", json={"first": 1}), 422)


def test_the_pixel_limit_comes_from_the_configuration(model_path: Path) -> None:
    with TestClient(create_app(ServiceConfig(model_path=model_path, max_pixels=80))) as client:
        files = {"first": image_file(0), "second": ("big.png", png(0, size=10), "image/png")}
        detail = one_line_error(client.post("/v1/verify", files=files), 422)
    assert "10x10 pixels, more than the 80 allowed" in detail


def test_uploads_over_the_limit_are_413_by_declared_length_and_by_actual_bytes(plain_client: TestClient) -> None:
    noise = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(noise, "PNG")
    assert len(noise.getvalue()) > 64 * 1024
    files = {"first": ("noise.png", noise.getvalue(), "image/png"), "second": image_file(0)}
    assert "upload too large" in one_line_error(plain_client.post("/v1/verify", files=files), 413)

    # Without a Content-Length (chunked), the bytes are counted as they arrive.
    boundary = "siamkit-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="first"; filename="noise.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + noise.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    chunks = iter([body[start : start + 8192] for start in range(0, len(body), 8192)])
    response = plain_client.post(
        "/v1/verify", content=chunks, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert "content-length" not in {name.lower() for name in response.request.headers}
    assert "upload too large" in one_line_error(response, 413)


def test_gallery_endpoints_without_a_gallery_are_409(plain_client: TestClient) -> None:
    calls = [
        plain_client.post("/v1/identify", files={"image": image_file(0)}),
        plain_client.post("/v1/verify-claim", files={"image": image_file(0)}, data={"identity": "alice"}),
        plain_client.post("/v1/identities", files={"images": image_file(0)}, data={"identity": "a"}, headers=WRITE),
        plain_client.delete("/v1/identities/alice", headers=WRITE),
        plain_client.get("/v1/identities"),
    ]
    for response in calls:
        assert "no gallery is loaded" in one_line_error(response, 409)


def test_writes_need_the_bearer_token(gallery_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def enrol(headers: dict[str, str]) -> httpx.Response:
        return gallery_client.post(
            "/v1/identities", files={"images": image_file(0)}, data={"identity": "alice"}, headers=headers
        )

    assert "Authorization: Bearer" in one_line_error(enrol({}), 401)
    assert enrol({}).headers["www-authenticate"] == "Bearer"
    assert "wrong bearer token" in one_line_error(enrol({"Authorization": "Bearer guess"}), 401)
    one_line_error(enrol({"Authorization": f"Basic {TOKEN}"}), 401)
    one_line_error(gallery_client.delete("/v1/identities/alice", headers={"Authorization": "Bearer guess"}), 401)
    # The token is checked before the upload is looked at.
    one_line_error(gallery_client.post("/v1/identities", data={"identity": "alice"}), 401)

    monkeypatch.delenv("SIAMKIT_TOKEN")
    assert "set SIAMKIT_TOKEN" in one_line_error(enrol(WRITE), 403)
    one_line_error(gallery_client.delete("/v1/identities/alice", headers=WRITE), 403)
    assert gallery_client.get("/v1/identities").json()["identities"] == []


def decode_thumbnail(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_enrol_identify_verify_claim_and_delete_round_trip(
    gallery_client: TestClient, model_path: Path, tmp_path: Path
) -> None:
    client = gallery_client
    empty = client.post("/v1/identify", files={"image": image_file(20)}).json()
    assert empty == {"identity": None, "known": False, "threshold": 1.0, "candidates": [], "warning": None}
    response = client.post(
        "/v1/identities",
        files=[("images", ("alice.png", png(0, size=100), "image/png")), ("images", image_file(10))],
        data={"identity": "alice", "metadata": '{"team": "ops"}'},
        headers=WRITE,
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"identity": "alice", "references": 2, "added": 2}
    response = client.post("/v1/identities", files={"images": image_file(255)}, data={"identity": "bob"}, headers=WRITE)
    assert response.json() == {"identity": "bob", "references": 1, "added": 1}
    assert client.get("/healthz").json()["identities"] == 2
    assert client.get("/v1/identities").json() == {
        "identities": [
            {"identity": "alice", "references": 2, "metadata": {"team": "ops"}},
            {"identity": "bob", "references": 1, "metadata": {}},
        ],
        "total": 2,
    }

    found = client.post("/v1/identify", files={"image": image_file(20)}).json()
    assert found["identity"] == "alice" and found["known"] is True and found["threshold"] == 1.0
    assert [candidate["identity"] for candidate in found["candidates"]] == ["alice", "bob"]
    assert found["candidates"][0]["score"] == pytest.approx(distance(20, 10), abs=1e-5)  # the nearer reference
    assert found["candidates"][1]["similarity"] == pytest.approx(-distance(20, 255), abs=1e-5)
    thumbnail = decode_thumbnail(found["candidates"][0]["thumbnail"])
    assert thumbnail.size == (64, 64) and thumbnail.getpixel((5, 5)) == 0  # alice's first, 100x100 image
    assert (
        client.post("/v1/identify", files={"image": image_file(20)}, data={"top_k": "1"}).json()["candidates"][0][
            "identity"
        ]
        == "alice"
    )

    unknown = client.post("/v1/identify", files={"image": image_file(128)}).json()
    assert unknown["identity"] is None and unknown["known"] is False
    assert unknown["candidates"][0]["score"] == pytest.approx(distance(128, 10), abs=1e-5)

    claim = client.post("/v1/verify-claim", files={"image": image_file(20)}, data={"identity": "alice"}).json()
    mean_distance = (distance(20, 0) + distance(20, 10)) / 2  # the default scoring: mean over both references
    assert claim == {
        "identity": "alice",
        "scoring": "mean",
        "references": 2,
        "same": True,
        "score": pytest.approx(mean_distance, abs=1e-5),
        "similarity": pytest.approx(-mean_distance, abs=1e-5),
        "threshold": 1.0,
    }
    nearest = client.post(
        "/v1/verify-claim", files={"image": image_file(20)}, data={"identity": "alice", "scoring": "best"}
    ).json()
    assert nearest["scoring"] == "best" and nearest["score"] == pytest.approx(distance(20, 10), abs=1e-5)
    # The gallery's claim policy, stored by another process (siamkit gallery calibrate-claims), is what an
    # unspecified scoring follows, with its threshold.
    with Gallery.open(tmp_path / "staff.gallery", SiameseModel.load(model_path)) as other:
        other.set_claim_policy(ClaimPolicy("best", 0.05))
    policy = client.post("/v1/verify-claim", files={"image": image_file(20)}, data={"identity": "alice"}).json()
    assert (policy["scoring"], policy["threshold"], policy["same"]) == ("best", 0.05, False)
    # So is its identification threshold; once the gallery has grown past the size it was fitted at, identify
    # says so.
    with Gallery.open(tmp_path / "staff.gallery", SiameseModel.load(model_path)) as other:
        fitted = other.calibrate_identification([png(128), png(200)], target_fpir=0.0)
    calibrated = client.post("/v1/identify", files={"image": image_file(20)}).json()
    assert calibrated["threshold"] == pytest.approx(fitted["threshold"]) and calibrated["warning"] is None
    client.post("/v1/identities", files={"images": image_file(60)}, data={"identity": "dave"}, headers=WRITE)
    grown = client.post("/v1/identify", files={"image": image_file(20)}).json()
    assert "fitted on 3 references and the gallery now holds 4" in grown["warning"]
    assert "scoring" in one_line_error(
        client.post("/v1/verify-claim", files={"image": image_file(20)}, data={"identity": "alice", "scoring": "max"}),
        422,
    )
    impostor = client.post("/v1/verify-claim", files={"image": image_file(255)}, data={"identity": "alice"}).json()
    assert impostor["same"] is False
    detail = one_line_error(
        client.post("/v1/verify-claim", files={"image": image_file(0)}, data={"identity": "carol"}), 404
    )
    assert "carol" in detail

    assert client.delete("/v1/identities/alice", headers=WRITE).json() == {"identity": "alice", "removed": True}
    assert "alice" in one_line_error(client.delete("/v1/identities/alice", headers=WRITE), 404)
    assert [row["identity"] for row in client.get("/v1/identities").json()["identities"]] == ["bob", "dave"]
    assert client.post("/v1/identify", files={"image": image_file(20)}).json()["candidates"][0]["identity"] == "dave"


def test_enrolment_input_is_checked_and_the_first_thumbnail_is_kept(gallery_client: TestClient) -> None:
    client = gallery_client

    def enrol(level: int, **data: str) -> httpx.Response:
        return client.post("/v1/identities", files={"images": image_file(level)}, data=data, headers=WRITE)

    assert "not valid JSON" in one_line_error(enrol(0, identity="a", metadata="{team"), 422)
    assert "JSON object" in one_line_error(enrol(0, identity="a", metadata="[1, 2]"), 422)
    assert "must be a string" in one_line_error(enrol(0, identity="a", metadata='{"age": 3}'), 422)
    assert "reserved" in one_line_error(enrol(0, identity="a", metadata='{"siamkit.thumbnail": "x"}'), 422)
    assert "blank" in one_line_error(enrol(0, identity="   "), 422)
    one_line_error(enrol(0), 422)  # no identity
    one_line_error(client.post("/v1/identities", data={"identity": "a"}, headers=WRITE), 422)  # no images
    assert client.get("/v1/identities").json()["identities"] == []  # nothing half-enrolled

    assert enrol(0, identity="dana", metadata='{"team": "ops"}').status_code == 201
    response = enrol(255, identity="dana", metadata='{"room": "7"}')
    assert response.json() == {"identity": "dana", "references": 2, "added": 1}
    listed = client.get("/v1/identities").json()["identities"]
    assert listed == [{"identity": "dana", "references": 2, "metadata": {"room": "7", "team": "ops"}}]
    found = client.post("/v1/identify", files={"image": image_file(250)}).json()
    assert decode_thumbnail(found["candidates"][0]["thumbnail"]).getpixel((0, 0)) == 0  # still the first image
    for top_k in ("0", "101", "many"):
        one_line_error(client.post("/v1/identify", files={"image": image_file(0)}, data={"top_k": top_k}), 422)


def test_the_web_page_its_files_and_the_api_documentation_are_served(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>siamkit</title>")
    (static / "app.js").write_text("console.log('hi');")
    monkeypatch.setattr(app_module, "STATIC_DIRECTORY", static)
    app: FastAPI = create_app(ServiceConfig(model_path=model_path))
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "<title>siamkit</title>" in page.text
        assert client.get("/static/app.js").text == "console.log('hi');"
        one_line_error(client.get("/static/missing.js"), 404)
        assert client.get("/docs").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/healthz", "/v1/verify", "/v1/identify", "/v1/verify-claim", "/v1/identities"} <= set(paths)
        (static / "index.html").unlink()
        one_line_error(client.get("/"), 404)


def test_a_half_twin_embeds_second_inputs_and_references_with_its_second_branch(tmp_path: Path) -> None:
    network = SiameseNetwork.from_config(
        SiameseConfig(
            EncoderConfig("mlp", (1, 4, 4), 16, {"hidden_dims": []}),
            ComparisonConfig("euclidean"),
            shared_weights=False,
        )
    )
    with torch.no_grad():
        network.encoder[1].weight.copy_(torch.eye(16))
        network.encoder[1].bias.zero_()
        assert network.second_encoder is not None
        network.second_encoder[1].weight.copy_(0.5 * torch.eye(16))  # the second branch halves the pixels
        network.second_encoder[1].bias.zero_()
    model = SiameseModel(network, PreprocessingConfig(image_size=(4, 4)), threshold=1.0)
    model.save(tmp_path / "half-twin")
    config = ServiceConfig(model_path=tmp_path / "half-twin", gallery_path=tmp_path / "g.gallery", token=TOKEN)
    with TestClient(create_app(config)) as client:
        # 100 through the first branch equals 200 through the second; the other way round they are far apart.
        same = client.post("/v1/verify", files={"first": image_file(100), "second": image_file(200)}).json()
        assert same["score"] == pytest.approx(0.0, abs=1e-5) and same["same"] is True
        swapped = client.post("/v1/verify", files={"first": image_file(200), "second": image_file(100)}).json()
        assert swapped["score"] == pytest.approx(4 * 150 / 255, abs=1e-5) and swapped["same"] is False
        assert swapped["score"] == pytest.approx(model.verify(png(200), png(100)).score, abs=1e-6)

        client.post("/v1/identities", files={"images": image_file(200)}, data={"identity": "bob"}, headers=WRITE)
        found = client.post("/v1/identify", files={"image": image_file(100)}).json()
        assert found["identity"] == "bob" and found["candidates"][0]["score"] == pytest.approx(0.0, abs=1e-5)


def test_concurrent_enrolments_and_searches_share_the_gallery_safely(model_path: Path, tmp_path: Path) -> None:
    config = ServiceConfig(model_path=model_path, gallery_path=tmp_path / "busy.gallery", token=TOKEN)
    app = create_app(config)
    levels = {f"person-{index}": index * 30 for index in range(8)}

    async def send_all() -> tuple[list[httpx.Response], list[httpx.Response]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            enrolments = [
                client.post(
                    "/v1/identities", files={"images": image_file(level)}, data={"identity": name}, headers=WRITE
                )
                for name, level in levels.items()
            ]
            searches = [client.post("/v1/identify", files={"image": image_file(level)}) for level in levels.values()]
            results = await asyncio.gather(*enrolments, *searches)
            return list(results[: len(levels)]), list(results[len(levels) :])

    try:
        enrolled, searched = asyncio.run(send_all())
        assert all(response.status_code == 201 for response in enrolled), [response.text for response in enrolled]
        assert all(response.status_code == 200 for response in searched), [response.text for response in searched]
        with TestClient(app) as client:
            listed = client.get("/v1/identities").json()["identities"]
            assert [row["identity"] for row in listed] == sorted(levels)
            for name, level in levels.items():
                assert client.post("/v1/identify", files={"image": image_file(level)}).json()["identity"] == name
    finally:
        app.state.engine.close()


def test_the_api_lists_the_claim_scorings_the_gallery_knows() -> None:
    assert get_args(ClaimScoring) == CLAIM_SCORINGS
