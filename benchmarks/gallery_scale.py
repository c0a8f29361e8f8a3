"""Gallery at scale (issue 5): enrolment rate, memory per reference, exact vs HNSW search latency and recall.

Run from the repository root with the project's virtual environment active:

    python benchmarks/gallery_scale.py --output benchmarks/results/gallery_scale.json   # 1,000,000 references
    python benchmarks/gallery_scale.py --quick                                          # smoke run, seconds
    python benchmarks/gallery_scale.py --enrolment-schemas    # enrolment only: schema 1 (kept here) vs current

The synthetic gallery imitates face-style embeddings: `--count` identities with one 128-d reference each,
drawn around `count / 100` cluster centres (people who look alike), and queries that are noisy re-captures
of enrolled references. Everything goes through the real `Gallery` API:
  * enrolment: `enrol_many` with precomputed embeddings, `--batch` identities per transaction (SQLite + exact
    index), as references/s; memory as the process RSS growth and the SQLite file size (with its WAL) per
    reference;
  * exact search: `Gallery.identify(embedding=..., top_k=10)` p50/p99 latency over `--exact-queries` queries,
    and the bare `ReferenceIndex.search` time for the same queries;
  * HNSW: the gallery reopened with `search=SearchConfig(mode="hnsw")` (reading SQLite and building the graph
    is timed), then for each `--ef-search` value the identify and index latencies and recall@1: the share of
    `--queries` queries whose best identity equals exact search's best identity.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from siamkit.comparisons import ComparisonConfig
from siamkit.data.preprocessing import PreprocessingConfig
from siamkit.encoders import EncoderConfig
from siamkit.gallery import Gallery, GalleryError, storage
from siamkit.gallery.migration import SCHEMA_1
from siamkit.gallery.search_config import SearchConfig
from siamkit.model import SiameseModel
from siamkit.network import SiameseConfig, SiameseNetwork

TOP_K = 10
# Accepts every query, so identify always names its best identity (recall compares those names).
ACCEPT_ALL = 1e9


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=None, help="references, one per identity (1,000,000)")
    parser.add_argument("--dim", type=int, default=128, help="embedding length")
    parser.add_argument("--batch", type=int, default=10_000, help="identities per enrol_many transaction")
    parser.add_argument("--queries", type=int, default=None, help="queries for HNSW latency and recall (1000)")
    parser.add_argument("--exact-queries", type=int, default=None, help="queries timed through exact search (100)")
    parser.add_argument("--ef-search", default="16,32,64,128", help="comma-separated HNSW efSearch values")
    parser.add_argument("--ef-construction", type=int, default=80, help="HNSW efConstruction")
    parser.add_argument("--neighbors", type=int, default=32, help="HNSW links per node (M)")
    parser.add_argument("--directory", type=Path, default=None, help="where the gallery file goes (temporary)")
    parser.add_argument("--output", type=Path, default=None, help="JSON results file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small smoke run: 20,000 references, 200 queries")
    parser.add_argument(
        "--enrolment-page-sizes",
        default=None,
        help="only measure enrolment, once per SQLite page size given (e.g. 4096,16384), alternating twice",
    )
    parser.add_argument(
        "--enrolment-schemas",
        action="store_true",
        help="only measure enrolment: gallery schema 1's storage (kept here as the baseline) against the current "
        "schema, alternating A B B A",
    )
    arguments = parser.parse_args(argv)
    # Explicit sizes win; otherwise the full run's sizes, or the quick run's.
    defaults = (20_000, 200, 50) if arguments.quick else (1_000_000, 1000, 100)
    for name, default in zip(("count", "queries", "exact_queries"), defaults, strict=True):
        if getattr(arguments, name) is None:
            setattr(arguments, name, default)
    if arguments.count < 100 or arguments.queries < 1 or arguments.exact_queries < 1:
        parser.error("--count must be at least 100 and query counts at least 1")
    return arguments


def embedding_model(dim: int) -> SiameseModel:
    """A euclidean model with `dim`-long embeddings; only its settings and fingerprint matter here."""
    config = SiameseConfig(EncoderConfig("mlp", (1, 1, dim), dim, {"hidden_dims": []}), ComparisonConfig("euclidean"))
    return SiameseModel(SiameseNetwork.from_config(config), PreprocessingConfig(image_size=(1, dim)), threshold=1.0)


def synthetic_gallery(count: int, dim: int, queries: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """References clustered around `count / 100` centres; queries re-capture random references with noise.

    Returns:
        `(references (count, dim), queries (queries, dim), the enrolled position each query re-captures)`.
    """
    generator = np.random.default_rng(seed)
    centres = generator.standard_normal((max(1, count // 100), dim), dtype=np.float32)
    references = centres[generator.integers(0, len(centres), size=count)]
    references += generator.standard_normal((count, dim), dtype=np.float32) * np.float32(0.5)
    sources = generator.choice(count, size=queries, replace=False)
    noisy = references[sources] + generator.standard_normal((queries, dim), dtype=np.float32) * np.float32(0.15)
    return references, noisy.astype(np.float32), sources


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def percentiles(seconds: list[float]) -> dict[str, float]:
    milliseconds = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": float(np.percentile(milliseconds, 50)),
        "p99_ms": float(np.percentile(milliseconds, 99)),
        "mean_ms": float(statistics.fmean(milliseconds)),
    }


def time_queries(gallery: Gallery, queries: np.ndarray) -> tuple[list[str | None], dict[str, Any]]:
    """Best identities from `identify`, with identify and bare index latencies (round-robin per query)."""
    best: list[str | None] = []
    identify_times, index_times = [], []
    for query in queries:
        start = time.perf_counter()
        result = gallery.identify(embedding=query, top_k=TOP_K, threshold=ACCEPT_ALL)
        identify_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        gallery.index.search(query, TOP_K)
        index_times.append(time.perf_counter() - start)
        best.append(result.identity)
    return best, {"identify": percentiles(identify_times), "index_search": percentiles(index_times)}


def enrol(gallery: Gallery, references: np.ndarray, batch: int) -> float:
    """Enrols one identity per reference in `batch`-sized transactions; returns the seconds taken."""
    start = time.perf_counter()
    for first in range(0, len(references), batch):
        chunk = references[first : first + batch]
        gallery.enrol_many([(f"id-{first + row}", chunk[row : row + 1], None) for row in range(len(chunk))])
    return time.perf_counter() - start


def file_bytes(path: Path) -> int:
    return sum(candidate.stat().st_size for candidate in path.parent.glob(path.name + "*"))


def compare_page_sizes(
    model: SiameseModel, references: np.ndarray, batch: int, sizes: list[int], directory: Path
) -> dict[str, Any]:
    """Enrolment rate per SQLite page size, each measured twice in the order A B B A so drifts cancel."""
    rates: dict[int, list[float]] = {size: [] for size in sizes}
    default_size = storage.PAGE_SIZE_BYTES
    try:
        for size in [*sizes, *reversed(sizes)]:
            storage.PAGE_SIZE_BYTES = size  # read when a gallery file is created
            path = directory / f"page-{size}-{len(rates[size])}.gallery"
            with Gallery.create(path, model) as gallery:
                seconds = enrol(gallery, references, batch)
            path.unlink()
            rates[size].append(len(references) / seconds)
            print(f"page size {size}: {len(references) / seconds:,.0f} references/s", file=sys.stderr)
    finally:
        storage.PAGE_SIZE_BYTES = default_size
    summary = {
        str(size): {"references_per_second": float(np.mean(values)), "runs": values} for size, values in rates.items()
    }
    base = summary[str(sizes[0])]["references_per_second"]
    for size in sizes:
        summary[str(size)]["ratio_to_first"] = summary[str(size)]["references_per_second"] / base
    return summary


class SchemaOneStorage(storage.GalleryStorage):
    """The enrolment path of gallery schema 1 (siamkit before schema 2), kept only as this benchmark's baseline.

    Names are the references' foreign key (two text indexes), reference ids come from AUTOINCREMENT, foreign keys
    are enforced, and both inserts are `executemany`, exactly as schema 1's storage wrote them.
    """

    SCHEMA = SCHEMA_1

    @classmethod
    def create_schema_1(cls, path: Path, settings: storage.GallerySettings) -> SchemaOneStorage:
        # The same connection settings as current galleries (page size, WAL, synchronous=FULL, cache), plus
        # schema 1's enforced foreign keys.
        connection = storage._connect(path, create=True)
        connection.execute("PRAGMA foreign_keys=ON")
        connection.executescript("BEGIN;" + cls.SCHEMA + "COMMIT;")
        rows = {
            "schema_version": str(settings.schema_version),
            "fingerprint": settings.fingerprint,
            "embedding_dim": str(settings.embedding_dim),
            "comparison": settings.comparison,
            **settings.search.to_settings(),
        }
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany("INSERT INTO gallery_settings (key, value) VALUES (?, ?)", rows.items())
        return cls(path, connection)

    def add_many(
        self, identities: Sequence[tuple[str, Mapping[str, str] | None]], owners: Sequence[str], vectors: np.ndarray
    ) -> list[int]:
        identity_rows = [
            (identity, json.dumps(dict(metadata), sort_keys=True) if metadata else "{}")
            for identity, metadata in identities
        ]
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        data, row_bytes = vectors.tobytes(), vectors.shape[1] * vectors.itemsize
        starts = range(0, len(data), row_bytes)
        reference_rows = zip(owners, (data[start : start + row_bytes] for start in starts), strict=True)
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.executemany(
                "INSERT INTO identities (name, metadata) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET metadata = json_patch(identities.metadata, excluded.metadata)",
                identity_rows,
            )
            first = self._last_reference_id() + 1
            self.connection.executemany(
                "INSERT INTO reference_embeddings (identity, embedding) VALUES (?, ?)", reference_rows
            )
            last = self._last_reference_id()
            if last - first + 1 != len(owners):
                raise GalleryError(f"{self.path}: reference ids were not allocated consecutively; nothing was added")
        return list(range(first, last + 1))

    def _last_reference_id(self) -> int:
        row = self.connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'reference_embeddings'").fetchone()
        return 0 if row is None else int(row[0])

    def all_references(self, embedding_dim: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        # Only called on an empty gallery here (the index is built from the file when the gallery is made).
        assert self.reference_count() == 0
        return np.zeros(0, dtype=np.int64), [], np.zeros((0, embedding_dim), dtype=np.float32)


def schema_1_gallery(path: Path, model: SiameseModel) -> Gallery:
    """An empty gallery whose storage is schema 1's, searched with the current index code."""
    config = model.network.config
    assert config is not None
    settings = storage.GallerySettings(
        schema_version=1,
        fingerprint=model.fingerprint,
        embedding_dim=int(config.encoder.embedding_dim),
        comparison=config.comparison.name,
    )
    return Gallery(SchemaOneStorage.create_schema_1(path, settings), settings, model)


def compare_schemas(model: SiameseModel, references: np.ndarray, batch: int, directory: Path) -> dict[str, Any]:
    """Enrolment rate with schema 1's storage and the current one, each twice in the order A B B A."""
    rates: dict[str, list[float]] = {"1": [], str(storage.SCHEMA_VERSION): []}
    for schema in [*rates, *reversed(rates)]:
        path = directory / f"schema-{schema}-{len(rates[schema])}.gallery"
        make = schema_1_gallery if schema == "1" else Gallery.create
        with make(path, model) as gallery:
            seconds = enrol(gallery, references, batch)
            assert gallery.reference_count() == len(references)
        for leftover in directory.glob(path.name + "*"):
            leftover.unlink()
        rates[schema].append(len(references) / seconds)
        print(f"schema {schema}: {len(references) / seconds:,.0f} references/s", file=sys.stderr)
    summary = {
        schema: {"references_per_second": float(np.mean(values)), "runs": values} for schema, values in rates.items()
    }
    for row in summary.values():
        row["ratio_to_schema_1"] = row["references_per_second"] / summary["1"]["references_per_second"]
    return summary


def run(arguments: argparse.Namespace, directory: Path) -> dict[str, Any]:
    count, dim = arguments.count, arguments.dim
    ef_values = [int(value) for value in arguments.ef_search.split(",") if value.strip()]
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "faiss_threads": faiss.omp_get_max_threads(),
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in vars(arguments).items()},
    }
    references, queries, sources = synthetic_gallery(count, dim, arguments.queries, arguments.seed)
    model = embedding_model(dim)
    if arguments.enrolment_page_sizes:
        sizes = [int(size) for size in arguments.enrolment_page_sizes.split(",")]
        results["enrolment_by_page_size"] = compare_page_sizes(model, references, arguments.batch, sizes, directory)
        return results
    if arguments.enrolment_schemas:
        results["enrolment_by_schema"] = compare_schemas(model, references, arguments.batch, directory)
        return results
    path = directory / "scale.gallery"

    before = resident_bytes()
    with Gallery.create(path, model) as gallery:
        seconds = enrol(gallery, references, arguments.batch)
        grown = resident_bytes() - before
        results["enrolment"] = {
            "references": count,
            "seconds": seconds,
            "references_per_second": count / seconds,
            "rss_bytes_per_reference": grown / count,
            "sqlite_bytes_per_reference": file_bytes(path) / count,
            "raw_vector_bytes": dim * 4,
        }
        print(f"enrolled {count} in {seconds:.1f} s ({count / seconds:,.0f}/s)", file=sys.stderr)
        exact_best, exact_timing = time_queries(gallery, queries[: arguments.exact_queries])
        results["exact"] = exact_timing
    # Exact best identities for every query, from a batched exact scan of the same vectors.
    _, nearest = faiss.knn(queries, references, 1)
    truth = [f"id-{position}" for position in nearest[:, 0]]
    assert exact_best == truth[: arguments.exact_queries], "gallery exact search disagrees with a faiss scan"
    results["exact"]["recall_at_1_of_recaptured_reference"] = float(np.mean(nearest[:, 0] == sources))

    hnsw = SearchConfig(mode="hnsw", hnsw_neighbors=arguments.neighbors, hnsw_ef_construction=arguments.ef_construction)
    before = resident_bytes()
    start = time.perf_counter()
    with Gallery.open(path, model, search=hnsw) as gallery:
        seconds = time.perf_counter() - start
        results["hnsw_build"] = {
            "seconds": seconds,
            "references_per_second": count / seconds,
            "rss_growth_bytes_per_reference": (resident_bytes() - before) / count,
        }
        print(f"reopened with HNSW in {seconds:.1f} s", file=sys.stderr)
        results["hnsw"] = []
        for ef_search in ef_values:
            gallery.index.search_config = replace(hnsw, hnsw_ef_search=ef_search)
            best, timing = time_queries(gallery, queries)
            recall = float(np.mean([found == wanted for found, wanted in zip(best, truth, strict=True)]))
            row = {"ef_search": ef_search, "recall_at_1": recall, **timing}
            row["identify_p50_speedup_vs_exact"] = exact_timing["identify"]["p50_ms"] / timing["identify"]["p50_ms"]
            results["hnsw"].append(row)
            print(
                f"efSearch {ef_search}: recall@1 {recall:.4f}, identify p50 {timing['identify']['p50_ms']:.3f} ms",
                file=sys.stderr,
            )
    results["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = parse_arguments(argv)
    if arguments.directory is not None:
        arguments.directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=arguments.directory) as directory:
        results = run(arguments, Path(directory))
    text = json.dumps(results, indent=2)
    if arguments.output is not None:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(text + "\n")
    print(text)
    return results


if __name__ == "__main__":
    main()
