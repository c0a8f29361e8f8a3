"""The web page end to end: the real `siamkit serve` process driven through headless Chromium.

Each test uploads files through the page's inputs, clicks, and checks what the page shows against the JSON API's
own answer for the same files. Needs Debian's `chromium` package and the Python `playwright` library (whose
Chromium download is never used: the system browser is launched instead); without either the module skips,
unless SIAMKIT_REQUIRE_BROWSER_TEST=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.gallery import Gallery
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
# CI sets this (see .ci/run), so that a missing browser or library fails there instead of skipping quietly.
REQUIRED = os.environ.get("SIAMKIT_REQUIRE_BROWSER_TEST") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (SIAMKIT_REQUIRE_BROWSER_TEST=1 requires the browser test to run)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if not CHROMIUM.exists():
    _unavailable(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser test")
try:
    from playwright import sync_api
except ImportError:
    _unavailable("the playwright library is missing: pip install playwright (its browser download is not needed)")
expect = sync_api.expect

# Headless, sandbox-free (CI containers run as root) and silent: nothing may reach the network.
CHROMIUM_ARGUMENTS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-token"
# Generous, because the server and the browser share two busy CPU cores with other work.
WAIT_MS = 60_000
STARTUP_SECONDS = 120.0
IMAGE_SIZE = 28


@dataclass(frozen=True)
class Service:
    """A running `siamkit serve` process and the files it serves."""

    url: str
    images: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_images(folder: Path) -> list[Path]:
    """Distinct grey noise images (returned), plus a text file posing as an upload that is not an image."""
    folder.mkdir()
    generator = np.random.default_rng(0)
    paths = []
    for name in ("alice", "bob", "carol"):
        pixels = generator.integers(0, 256, size=(IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")
        paths.append(folder / f"{name}.png")
    (folder / "notes.txt").write_text("this is not an image\n")
    return paths


def write_model_and_gallery(folder: Path, images: list[Path]) -> tuple[Path, Path]:
    """A tiny untrained conv4 bundle (it runs exactly like a trained one) and an empty gallery for it.

    The threshold is half the smallest distance between two different test images, so an image matches itself
    (distance 0) and nothing else: both decisions appear on the page.
    """
    torch.manual_seed(0)
    config = SiameseConfig(
        EncoderConfig("conv4", (1, IMAGE_SIZE, IMAGE_SIZE), 16, {"width": 8}), ComparisonConfig("euclidean")
    )
    model = SiameseModel(SiameseNetwork.from_config(config), PreprocessingConfig(image_size=(IMAGE_SIZE, IMAGE_SIZE)))
    embeddings = model.embed(images)
    distances = model.pairwise_scores(embeddings, embeddings)
    smallest = float(distances[~torch.eye(len(images), dtype=torch.bool)].min())
    assert smallest > 0
    model.threshold = smallest / 2
    model_path = folder / "model"
    model.save(model_path)
    gallery_path = folder / "staff.gallery"
    Gallery.create(gallery_path, model).close()
    return model_path, gallery_path


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"siamkit serve exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"siamkit serve did not answer /healthz within {STARTUP_SECONDS:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("service")
    model_path, gallery_path = write_model_and_gallery(folder, write_images(folder / "images"))
    port = free_port()
    command = [sys.executable, "-m", "siamkit", "serve", "--model", str(model_path), "--gallery", str(gallery_path)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    environment = {**os.environ, "SIAMKIT_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
    log = folder / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        yield Service(url=url, images=folder / "images")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(service: Service) -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, service: Service) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    opened.goto(service.url + "/")
    expect(opened.locator("body")).to_have_attribute("data-ready", "true", timeout=WAIT_MS)
    try:
        yield opened
    finally:
        context.close()


def post(service: Service, path: str, files: list[tuple[str, Path]], **data: str) -> httpx.Response:
    """Sends the same multipart request the page sends, straight to the API."""
    uploads = [(field, (file.name, file.read_bytes())) for field, file in files]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.post(service.url + path, files=uploads, data=data, headers=headers, timeout=WAIT_MS / 1000)


def shown_number(page: Page | Locator, selector: str) -> float:
    """A number the page shows, checked to be the text of its exact value rounded to four decimals."""
    element = page.locator(selector)
    exact = float(element.get_attribute("data-value") or "nan")
    assert element.inner_text() == f"{exact:.4f}".replace("-0.0000", "0.0000")
    return exact


def test_page_loads_its_assets_and_shows_the_service_status(page: Page, service: Service) -> None:
    health = httpx.get(service.url + "/healthz").json()
    assert page.title() == "siamkit"
    expect(page.locator("#status-model")).to_have_text(health["model"])
    expect(page.locator("#status-gallery")).to_have_text("loaded")
    # The stylesheet applied: the error box is hidden until there is an error.
    assert not page.locator("#verify-error").is_visible()


@pytest.mark.parametrize(("first", "second"), [("alice", "bob"), ("carol", "carol")])
def test_verify_shows_the_apis_decision_score_and_threshold(
    page: Page, service: Service, first: str, second: str
) -> None:
    first_file, second_file = service.images / f"{first}.png", service.images / f"{second}.png"
    page.set_input_files("#verify-first", first_file)
    page.set_input_files("#verify-second", second_file)
    expect(page.locator("#verify-first-preview")).to_be_visible()
    page.click("#verify-button")
    expect(page.locator("#verify-result")).to_be_visible(timeout=WAIT_MS)

    answer = post(service, "/v1/verify", [("first", first_file), ("second", second_file)]).json()
    expect(page.locator("#verify-decision")).to_have_text("same" if answer["same"] else "different")
    assert shown_number(page, "#verify-score") == pytest.approx(answer["score"], rel=1e-5, abs=1e-6)
    assert shown_number(page, "#verify-similarity") == pytest.approx(answer["similarity"], rel=1e-5, abs=1e-6)
    assert shown_number(page, "#verify-threshold") == answer["threshold"]
    if answer["probability"] is None:
        expect(page.locator("#verify-probability")).to_have_text("n/a")
    else:
        assert shown_number(page, "#verify-probability") == pytest.approx(answer["probability"], rel=1e-5)
    assert answer["same"] is (first == second)  # the threshold lies between 0 and every other pair's distance
    assert not page.locator("#verify-error").is_visible()


def test_enrol_through_the_page_then_identify_shows_that_identity_first(page: Page, service: Service) -> None:
    enrolled = post(service, "/v1/identities", [("images", service.images / "bob.png")], identity="bob-api")
    assert enrolled.status_code == 201, enrolled.text

    page.fill("#enrol-identity", "alice-page")
    page.set_input_files("#enrol-images", [service.images / "alice.png", service.images / "carol.png"])
    page.fill("#enrol-metadata", '{"team": "ops"}')
    page.fill("#enrol-token", TOKEN)
    page.click("#enrol-button")
    expect(page.locator("#enrol-result")).to_have_text("Enrolled alice-page: 2 references added.", timeout=WAIT_MS)
    listed = {entry["identity"]: entry for entry in httpx.get(service.url + "/v1/identities").json()["identities"]}
    assert listed["alice-page"]["references"] == 2
    assert listed["alice-page"]["metadata"] == {"team": "ops"}
    expect(page.locator("#status-identities")).to_have_text(str(len(listed)))

    page.set_input_files("#identify-image", service.images / "alice.png")
    page.click("#identify-button")
    expect(page.locator("#identify-result")).to_be_visible(timeout=WAIT_MS)
    answer = post(service, "/v1/identify", [("image", service.images / "alice.png")], top_k="5").json()
    assert answer["identity"] == "alice-page"  # a reference identical to the query: distance 0
    expect(page.locator("#identify-decision")).to_have_text("alice-page")
    assert shown_number(page, "#identify-threshold") == answer["threshold"]

    rows = page.locator("#identify-candidates tr.candidate")
    expect(rows).to_have_count(min(5, len(answer["candidates"])))
    for index, candidate in enumerate(answer["candidates"][:5]):
        row = rows.nth(index)
        expect(row.locator(".candidate-identity")).to_have_text(candidate["identity"])
        assert shown_number(row, ".candidate-score") == pytest.approx(candidate["score"], rel=1e-5, abs=1e-6)
    top = rows.first
    thumbnail = top.locator("img.candidate-thumbnail")
    expect(thumbnail).to_have_attribute("src", answer["candidates"][0]["thumbnail"])
    assert answer["candidates"][0]["thumbnail"].startswith("data:image/png;base64,")
    # The thumbnail decoded into a real picture, not a broken-image icon.
    assert thumbnail.evaluate("image => image.complete && image.naturalWidth > 0")

    # The token stays for the tab's session only: a reload keeps it filled in.
    page.reload()
    expect(page.locator("#enrol-token")).to_have_value(TOKEN)


def test_a_non_image_upload_shows_the_apis_error_message(page: Page, service: Service) -> None:
    text_file, image = service.images / "notes.txt", service.images / "alice.png"
    response = post(service, "/v1/verify", [("first", text_file), ("second", image)])
    assert 400 <= response.status_code < 500
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail

    page.set_input_files("#verify-first", text_file)
    page.set_input_files("#verify-second", image)
    page.click("#verify-button")
    expect(page.locator("#verify-error")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#verify-error")).to_have_text(detail)
    expect(page.locator("#verify-result")).to_be_hidden()


def test_enrolling_without_the_right_token_shows_the_refusal(page: Page, service: Service) -> None:
    page.fill("#enrol-identity", "mallory")
    page.set_input_files("#enrol-images", service.images / "bob.png")
    page.fill("#enrol-token", "not-the-token")
    page.click("#enrol-button")
    expect(page.locator("#enrol-error")).to_be_visible(timeout=WAIT_MS)
    refusal = httpx.post(
        service.url + "/v1/identities",
        data={"identity": "mallory"},
        files=[("images", ("bob.png", (service.images / "bob.png").read_bytes()))],
        headers={"Authorization": "Bearer not-the-token"},
    )
    assert refusal.status_code in (401, 403)
    expect(page.locator("#enrol-error")).to_have_text(refusal.json()["detail"])
    expect(page.locator("#enrol-result")).to_be_hidden()
    identities = httpx.get(service.url + "/v1/identities").json()["identities"]
    assert "mallory" not in {entry["identity"] for entry in identities}
