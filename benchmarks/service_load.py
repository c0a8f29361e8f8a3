"""Service under load (issue 5): requests/s and latency of `/v1/verify` and `/v1/identify` over loopback HTTP.

Run from the repository root with the project's virtual environment active:

    python benchmarks/service_load.py                         # batching on and off, verify and identify
    python benchmarks/service_load.py --quick                 # smoke run, half a minute
    python benchmarks/service_load.py --batching on --requests 2000 --concurrency 32 --duration 60

What it does:
  * builds an untrained conv4 bundle (1x40x40 grey inputs, width 64, 128-d embeddings, euclidean: the shape of
    the omniglot-best preset; an untrained network costs exactly as much to run as a trained one) and a gallery
    of `--identities` identities, each with one reference embedding of a random image and a 64 px thumbnail in
    its metadata, as enrolment through the service stores them;
  * starts `siamkit serve` as a subprocess on 127.0.0.1: with batching on (the service's defaults), and with
    `--max-batch-images 1 --batch-wait-ms 0` (one model call per request, no cross-request batching) for off;
  * for each endpoint, sends warm-up requests, then `--requests` requests from `--concurrency` concurrent
    clients (httpx.AsyncClient, one connection each), stopping early at `--duration` seconds; each request
    uploads 105x105 grey PNGs (Omniglot's size) chosen round-robin from a fixed set, so decoding and resizing
    are part of the cost;
  * reports completed requests/s, p50/p90/p99 latency and errors (non-2xx or transport failures) per endpoint
    and batching mode, the server's CPU time per request (from /proc), and the on/off ratios; and, for scale,
    the CPU time of decoding one upload and of embedding per image at batch sizes 1 to 32 in this process;
    writes JSON to `--output` and prints a rich table.

The load generator runs on the same machine as the server: on a small CPU it takes a share of the cores, so the
numbers are a lower bound on what the server alone could do. Latency is measured by the client, from sending
the request to reading the whole response.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from siamkit.atomic import write_text_atomic
from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import MAX_IMAGE_PIXELS, PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.gallery import Gallery
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork
from siamkit.service.thumbnails import THUMBNAIL_METADATA_KEY, thumbnail_data_uri
from siamkit.service.uploads import decode_upload
from timing import machine_description

INPUT_SIZE = 40
UPLOAD_SIZE = 105
DISTINCT_UPLOADS = 32
STARTUP_SECONDS = 180.0
ENROL_BATCH = 500


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=None, help="measured requests per endpoint and mode (400)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=None, help="seconds limit per endpoint and mode (30)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured requests first (2 x concurrency)")
    parser.add_argument("--identities", type=int, default=None, help="identities in the gallery (1000)")
    parser.add_argument("--endpoints", default="verify,identify", help="comma-separated: verify, identify")
    parser.add_argument("--batching", choices=["both", "on", "off"], default="both", help="modes to run")
    parser.add_argument("--rounds", type=int, default=None, help="server starts per mode: on, off, off, on, ... (2)")
    parser.add_argument("--top-k", type=int, default=5, help="candidates asked of /v1/identify")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 40 requests, 100 identities, 10 s")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/service_load.json"))
    arguments = parser.parse_args(argv)
    quick = arguments.quick
    defaults = {"requests": 40 if quick else 400, "duration": 10.0 if quick else 30.0}
    defaults["identities"] = 100 if quick else 1000
    defaults["rounds"] = 1 if quick else 2
    defaults["warmup"] = min(2 * arguments.concurrency, 8) if quick else 2 * arguments.concurrency
    for name, value in defaults.items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    arguments.endpoints = [name.strip() for name in arguments.endpoints.split(",") if name.strip()]
    unknown = set(arguments.endpoints) - {"verify", "identify"}
    if unknown or not arguments.endpoints:
        parser.error(f"--endpoints takes verify and/or identify, got {sorted(unknown) or 'nothing'}")
    if arguments.requests < 1 or arguments.concurrency < 1 or arguments.duration <= 0 or arguments.rounds < 1:
        parser.error("--requests, --concurrency, --duration and --rounds must be positive")
    return arguments


def random_picture(generator: np.random.Generator, size: int) -> Image.Image:
    """A grey image of blurred blobs: compresses like a scan, unlike pure noise."""
    coarse = generator.integers(0, 256, size=(size // 8 + 1, size // 8 + 1), dtype=np.uint8)
    return Image.fromarray(coarse).resize((size, size), Image.Resampling.BILINEAR)


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def build_model_and_gallery(directory: Path, identities: int, seed: int) -> tuple[Path, Path]:
    """The untrained conv4 bundle and a gallery with one reference (and thumbnail) per identity."""
    torch.manual_seed(seed)
    config = SiameseConfig(
        EncoderConfig("conv4", (1, INPUT_SIZE, INPUT_SIZE), 128, {"width": 64}), ComparisonConfig("euclidean")
    )
    model = SiameseModel(SiameseNetwork.from_config(config), PreprocessingConfig(image_size=(INPUT_SIZE, INPUT_SIZE)))
    generator = np.random.default_rng(seed)
    pictures = [random_picture(generator, UPLOAD_SIZE) for _ in range(identities)]
    embeddings = model.embed([np.asarray(picture) for picture in pictures]).numpy()
    # A threshold at the median nearest-other-reference distance: some queries known, some unknown.
    distances = torch.cdist(torch.from_numpy(embeddings[:200]), torch.from_numpy(embeddings[:200]))
    distances.fill_diagonal_(float("inf"))
    model.threshold = float(distances.min(dim=1).values.median())
    model_path = directory / "model"
    model.save(model_path)
    gallery_path = directory / "load.gallery"
    with Gallery.create(gallery_path, model) as gallery:
        for start in range(0, identities, ENROL_BATCH):
            gallery.enrol_many(
                [
                    (
                        f"identity-{index:07d}",
                        embeddings[index : index + 1],
                        {THUMBNAIL_METADATA_KEY: thumbnail_data_uri(pictures[index], 64)},
                    )
                    for index in range(start, min(start + ENROL_BATCH, identities))
                ]
            )
    return model_path, gallery_path


def embedding_cost(model_path: Path, uploads: list[bytes]) -> dict[str, Any]:
    """CPU milliseconds to decode one upload, and per image to embed batches of each size, in this process.

    The ceiling on what batching can save: the per-image cost at batch 1 against larger batches. CPU time (not
    wall time) keeps the figures meaningful on a machine shared with other work.
    """
    model = SiameseModel.load(model_path)
    preprocessing = model.preprocessing
    arrays = [decode_upload(data, "upload", preprocessing, MAX_IMAGE_PIXELS).array for data in uploads]
    batch = torch.from_numpy(np.stack(arrays))

    def cpu_ms(function: Any, repeats: int) -> float:
        function()
        start = time.process_time()
        for _ in range(repeats):
            function()
        return (time.process_time() - start) / repeats * 1000

    per_image = {}
    for size in (1, 2, 4, 8, 16, 32):
        images = batch[:size]
        per_image[str(size)] = cpu_ms(lambda images=images: model.embed(images), max(10, 200 // size)) / size
    decode_ms = cpu_ms(lambda: decode_upload(uploads[0], "upload", preprocessing, MAX_IMAGE_PIXELS), 200)
    return {"torch_threads": torch.get_num_threads(), "decode_ms": decode_ms, "embed_ms_per_image": per_image}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(model_path: Path, gallery_path: Path, port: int, batching: bool) -> list[str]:
    """`siamkit serve` on loopback; without batching every request is embedded on its own."""
    command = [sys.executable, "-m", "siamkit", "serve", "--model", str(model_path), "--gallery", str(gallery_path)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    return command if batching else [*command, "--max-batch-images", "1", "--batch-wait-ms", "0"]


class Server:
    """A server subprocess on loopback, stopped on exit; its output goes to a log file for post-mortems."""

    def __init__(self, model_path: Path, gallery_path: Path, batching: bool, log_path: Path) -> None:
        self.port = free_port()
        command = server_command(model_path, gallery_path, self.port, batching)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {**os.environ, "SIAMKIT_TOKEN": "service-load-benchmark"}
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)

    def __enter__(self) -> Server:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the server did not become healthy in {STARTUP_SECONDS:.0f} s")

    def __exit__(self, *exception: object) -> None:
        self.stop()

    def cpu_seconds(self) -> float | None:
        """CPU time the server process (all its threads) has used so far; None where /proc is missing."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime are the 14th and 15th fields of the line, the 12th and 13th after the command name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Outcome:
    latencies: list[float]
    errors: int
    error_examples: list[str]
    seconds: float
    stopped_by_duration: bool
    client_cpu_seconds: float
    server_cpu_seconds: float | None = None


def request_parts(endpoint: str, uploads: list[bytes], index: int, top_k: int) -> tuple[str, list[Any], dict[str, str]]:
    """The path, multipart files and form fields of the `index`-th request."""
    first = uploads[index % len(uploads)]
    if endpoint == "verify":
        second = uploads[(index * 7 + 1) % len(uploads)]
        return "/v1/verify", [("first", ("a.png", first, "image/png")), ("second", ("b.png", second, "image/png"))], {}
    return "/v1/identify", [("image", ("query.png", first, "image/png"))], {"top_k": str(top_k)}


async def send_load(
    url: str, endpoint: str, uploads: list[bytes], count: int, concurrency: int, duration: float, top_k: int
) -> Outcome:
    """`count` requests from `concurrency` clients, stopping at `duration` seconds; latency of each success."""
    latencies: list[float] = []
    errors: list[str] = []
    next_index = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=max(duration, 30.0)) as client:

        async def client_loop() -> None:
            nonlocal next_index
            while next_index < count and time.perf_counter() < deadline:
                index = next_index
                next_index += 1
                path, files, data = request_parts(endpoint, uploads, index, top_k)
                start = time.perf_counter()
                try:
                    response = await client.post(path, files=files, data=data)
                    await response.aread()
                except httpx.HTTPError as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    continue
                if response.is_success:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")

        start, cpu_start = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return Outcome(latencies, len(errors), errors[:3], seconds, next_index < count, cpu_seconds)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    """Throughput over all rounds together (requests over seconds) and percentiles of the pooled latencies."""
    latencies_ms = np.asarray([latency for outcome in outcomes for latency in outcome.latencies]) * 1000
    seconds = sum(outcome.seconds for outcome in outcomes)

    def percentile(share: float) -> float | None:
        return float(np.percentile(latencies_ms, share)) if latencies_ms.size else None

    return {
        "completed": int(latencies_ms.size),
        "errors": sum(outcome.errors for outcome in outcomes),
        "error_examples": [example for outcome in outcomes for example in outcome.error_examples][:3],
        "seconds": seconds,
        "stopped_by_duration": any(outcome.stopped_by_duration for outcome in outcomes),
        "requests_per_second": latencies_ms.size / seconds if seconds > 0 else 0.0,
        "requests_per_second_by_round": [len(outcome.latencies) / outcome.seconds for outcome in outcomes],
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "mean_ms": float(latencies_ms.mean()) if latencies_ms.size else None,
        # The load generator's own CPU time per second of load: its share of the cores the server could not use.
        "client_cpu_share": sum(outcome.client_cpu_seconds for outcome in outcomes) / seconds if seconds > 0 else 0.0,
        # Server CPU time per completed request: unlike throughput, hardly changed by other work on the machine.
        "server_cpu_ms_per_request": (
            1000 * sum(outcome.server_cpu_seconds or 0.0 for outcome in outcomes) / latencies_ms.size
            if latencies_ms.size and all(outcome.server_cpu_seconds is not None for outcome in outcomes)
            else None
        ),
    }


def run_mode(
    arguments: argparse.Namespace, model_path: Path, gallery_path: Path, uploads: list[bytes], batching: bool
) -> dict[str, Outcome]:
    """One server start: warm-up and measured load for each endpoint in turn."""
    mode = "on" if batching else "off"
    outcomes = {}
    with Server(model_path, gallery_path, batching, model_path.parent / f"server-{mode}.log") as server:
        health = httpx.get(f"{server.url}/healthz").json()
        if health.get("identities") != arguments.identities:
            raise RuntimeError(f"the server reports {health.get('identities')} identities, not {arguments.identities}")
        for endpoint in arguments.endpoints:
            # Warm-up: first calls allocate, fill caches and grow the thread pools.
            load = (server.url, endpoint, uploads)
            asyncio.run(send_load(*load, arguments.warmup, arguments.concurrency, 60.0, arguments.top_k))
            cpu_before = server.cpu_seconds()
            outcome = asyncio.run(
                send_load(*load, arguments.requests, arguments.concurrency, arguments.duration, arguments.top_k)
            )
            cpu_after = server.cpu_seconds()
            if cpu_before is not None and cpu_after is not None:
                outcome.server_cpu_seconds = cpu_after - cpu_before
            outcomes[endpoint] = outcome
            p50 = float(np.percentile(outcome.latencies, 50)) * 1000 if outcome.latencies else float("nan")
            print(
                f"{endpoint:8s} batching {mode:3s}: {len(outcome.latencies) / outcome.seconds:7.1f} req/s, "
                f"p50 {p50:7.1f} ms, {outcome.errors} errors",
                file=sys.stderr,
            )
    return outcomes


def mode_order(batching: str, rounds: int) -> list[bool]:
    """Server starts in the order on, off, off, on, on, off, ...: slow drifts in the machine's load cancel out."""
    if batching != "both":
        return [batching == "on"] * rounds
    order: list[bool] = []
    for round_index in range(rounds):
        order += [True, False] if round_index % 2 == 0 else [False, True]
    return order


def batching_ratios(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per endpoint measured both ways: requests/s with batching on over off, and server CPU per request off
    over on (both above 1 when batching helps)."""
    by_key = {(row["endpoint"], row["batching"]): row for row in rows}
    ratios = {}
    for endpoint in dict.fromkeys(row["endpoint"] for row in rows):
        on, off = by_key.get((endpoint, "on")), by_key.get((endpoint, "off"))
        if not on or not off or off["requests_per_second"] <= 0:
            continue
        ratios[endpoint] = {"throughput": on["requests_per_second"] / off["requests_per_second"]}
        if on["server_cpu_ms_per_request"] and off["server_cpu_ms_per_request"]:
            ratios[endpoint]["server_cpu"] = off["server_cpu_ms_per_request"] / on["server_cpu_ms_per_request"]
    return ratios


def print_table(results: dict[str, Any]) -> None:
    settings = results["settings"]
    table = Table(
        title=f"Service load: {settings['concurrency']} concurrent clients, {settings['identities']:,} identities"
    )
    columns = ("endpoint", "batching", "done", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "server CPU ms/req")
    columns += ("client CPU",)
    for column in columns:
        table.add_column(column, justify="left" if column in ("endpoint", "batching") else "right")

    def number(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for row in results["runs"]:
        table.add_row(
            row["endpoint"],
            row["batching"],
            str(row["completed"]),
            str(row["errors"]),
            number(row["requests_per_second"]),
            number(row["p50_ms"]),
            number(row["p90_ms"]),
            number(row["p99_ms"]),
            number(row["server_cpu_ms_per_request"], 2),
            f"{row['client_cpu_share']:.0%}",
        )
    console = Console(stderr=True, width=max(120, Console(stderr=True).width))
    console.print(table)
    cost = results["model_cost_cpu_ms"]
    per_image = ", ".join(f"{size}: {ms:.2f}" for size, ms in cost["embed_ms_per_image"].items())
    console.print(f"model alone, CPU ms per image by batch size ({cost['torch_threads']} thread(s)): {per_image}")
    console.print(f"decoding one upload: {cost['decode_ms']:.2f} CPU ms")
    for endpoint, ratio in results["batching_speedup"].items():
        cpu = f", server CPU per request off / on = {ratio['server_cpu']:.2f}x" if "server_cpu" in ratio else ""
        console.print(f"{endpoint}: throughput on / off = {ratio['throughput']:.2f}x{cpu}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = parse_arguments(argv)
    generator = np.random.default_rng(arguments.seed + 1)
    uploads = [png_bytes(random_picture(generator, UPLOAD_SIZE)) for _ in range(DISTINCT_UPLOADS)]
    with tempfile.TemporaryDirectory(prefix="siamkit-service-load-") as directory:
        started = time.perf_counter()
        model_path, gallery_path = build_model_and_gallery(Path(directory), arguments.identities, arguments.seed)
        print(f"model and gallery built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        machine = machine_description()
        model_cost = embedding_cost(model_path, uploads)
        outcomes: dict[tuple[str, str], list[Outcome]] = {}
        for batching in mode_order(arguments.batching, arguments.rounds):
            mode = "on" if batching else "off"
            for endpoint, outcome in run_mode(arguments, model_path, gallery_path, uploads, batching).items():
                outcomes.setdefault((endpoint, mode), []).append(outcome)
    rows = [
        {"endpoint": endpoint, "batching": mode, **summarize(outcomes[(endpoint, mode)])}
        for endpoint in arguments.endpoints
        for mode in ("on", "off")
        if (endpoint, mode) in outcomes
    ]
    settings = {key: value for key, value in vars(arguments).items() if key != "output"}
    results = {
        "benchmark": "service_load",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else f"main({argv})",
        "machine": {
            **machine,
            "platform": platform.platform(),
            "server_omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset (torch's default)"),
        },
        "model": {
            "encoder": "conv4 (untrained), width 64",
            "input": f"1x{INPUT_SIZE}x{INPUT_SIZE}",
            "embedding_dim": 128,
            "comparison": "euclidean",
            "upload": f"{UPLOAD_SIZE}x{UPLOAD_SIZE} grey PNG",
        },
        "settings": settings,
        "model_cost_cpu_ms": model_cost,
        "runs": rows,
        "batching_speedup": batching_ratios(rows),
    }
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(arguments.output, json.dumps(results, indent=2) + "\n")
    print_table(results)
    return results


if __name__ == "__main__":
    main()
