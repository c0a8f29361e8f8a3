"""Schema migration: a gallery file written with schema 1's SQL opens as schema 2 with nothing lost or changed."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from siamkit.gallery import SCHEMA_VERSION, Gallery, GalleryError, migration
from siamkit.gallery.search_config import SearchConfig
from siamkit.model import SiameseModel
from siamkit.service.thumbnails import THUMBNAIL_METADATA_KEY

from .flattening_model import flattening_model

DIM = 8

# Schema 1 exactly as siamkit wrote it (storage.py at SCHEMA_VERSION = 1), and its two write statements.
INSERT_IDENTITY_1 = (
    "INSERT INTO identities (name, metadata) VALUES (?, ?) "
    "ON CONFLICT(name) DO UPDATE SET metadata = json_patch(identities.metadata, excluded.metadata)"
)
INSERT_REFERENCE_1 = "INSERT INTO reference_embeddings (identity, embedding) VALUES (?, ?)"

THUMBNAIL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgAB"

# (identity, references, metadata) in enrolment order; "carol" and "erin" are removed afterwards.
ENROLMENTS: list[tuple[str, int, dict[str, str]]] = [
    ("alice", 2, {"team": "ops", THUMBNAIL_METADATA_KEY: THUMBNAIL}),
    ("bob", 1, {}),
    ("carol", 3, {"team": "dev"}),
    ("dave", 2, {"badge": "7"}),
    ("alice", 1, {"badge": "18"}),  # more references and merged metadata for an existing identity
    ("zoë ünïcode", 1, {"note": "名前"}),
    ("erin", 2, {}),  # enrolled last, then removed: her ids are the highest ever used
]
REMOVED = ("carol", "erin")


def identity_model() -> SiameseModel:
    return flattening_model(2, 4)


def reference_vectors(enrolments: list[tuple[str, int, dict[str, str]]] = ENROLMENTS) -> list[np.ndarray]:
    generator = np.random.default_rng(7)
    return [generator.normal(size=(count, DIM)).astype(np.float32) for _, count, _ in enrolments]


def write_schema_1_gallery(
    path: Path,
    model: SiameseModel,
    enrolments: list[tuple[str, int, dict[str, str]]] = ENROLMENTS,
    removed: tuple[str, ...] = REMOVED,
) -> None:
    """Writes the enrolments and removals with schema 1's SQL, as siamkit's version-1 storage did."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA page_size=4096")
    connection.execute("PRAGMA journal_mode=WAL").fetchone()
    connection.execute("PRAGMA foreign_keys=ON")
    connection.executescript("BEGIN;" + migration.SCHEMA_1 + "COMMIT;")
    settings = {
        "schema_version": "1",
        "fingerprint": model.fingerprint,
        "embedding_dim": str(DIM),
        "comparison": "euclidean",
        **SearchConfig().to_settings(),
    }
    with connection:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT INTO gallery_settings (key, value) VALUES (?, ?)", settings.items())
    for (name, _, metadata), vectors in zip(enrolments, reference_vectors(enrolments), strict=True):
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(INSERT_IDENTITY_1, (name, json.dumps(metadata, sort_keys=True) if metadata else "{}"))
            connection.executemany(INSERT_REFERENCE_1, [(name, vector.tobytes()) for vector in vectors])
    for name in removed:
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("DELETE FROM identities WHERE name = ?", (name,))  # cascades to the references
    connection.close()


def read_schema_1(path: Path) -> tuple[dict[str, str], list[tuple[int, str, bytes]], int]:
    """What the version-1 file holds: metadata texts by identity, reference rows, AUTOINCREMENT's counter."""
    connection = sqlite3.connect(path)
    try:
        metadata = dict(connection.execute("SELECT name, metadata FROM identities").fetchall())
        references = connection.execute(
            "SELECT id, identity, embedding FROM reference_embeddings ORDER BY id"
        ).fetchall()
        sequence = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'reference_embeddings'").fetchone()
    finally:
        connection.close()
    return metadata, references, int(sequence[0])


def stored_version(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute("SELECT value FROM gallery_settings WHERE key = 'schema_version'").fetchone()
    finally:
        connection.close()
    return int(row[0])


@pytest.fixture
def schema_1_gallery(tmp_path: Path) -> Path:
    path = tmp_path / "old.gallery"
    write_schema_1_gallery(path, identity_model())
    return path


def test_the_fixture_is_a_schema_1_file_with_deleted_ids_at_the_end(schema_1_gallery: Path) -> None:
    metadata, references, sequence = read_schema_1(schema_1_gallery)
    assert sorted(metadata) == ["alice", "bob", "dave", "zoë ünïcode"]
    assert [row[0] for row in references] == [1, 2, 3, 7, 8, 9, 10]  # carol had 4-6, erin 11-12
    assert sequence == 12 and stored_version(schema_1_gallery) == 1


def test_a_schema_1_gallery_migrates_with_everything_kept(
    schema_1_gallery: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metadata_1, references_1, _ = read_schema_1(schema_1_gallery)
    model = identity_model()
    with caplog.at_level(logging.INFO, logger="siamkit.gallery.migration"):
        migrated = Gallery.open(schema_1_gallery, model)
    assert any("from schema version 1 to 2" in record.getMessage() for record in caplog.records)
    assert stored_version(schema_1_gallery) == SCHEMA_VERSION == 2
    # The same enrolments through the current code, for search results to compare with.
    fresh = Gallery.create(tmp_path / "fresh.gallery", model)
    for (name, _, metadata), vectors in zip(ENROLMENTS, reference_vectors(), strict=True):
        fresh.enrol(name, embeddings=vectors, metadata=metadata)
    for name in REMOVED:
        fresh.remove(name)
    with migrated, fresh:
        assert migrated.identities() == fresh.identities() == sorted(metadata_1)
        for name, text in metadata_1.items():
            assert migrated.metadata(name) == json.loads(text) == fresh.metadata(name)
        assert migrated.metadata("alice") == {"team": "ops", "badge": "18", THUMBNAIL_METADATA_KEY: THUMBNAIL}
        # Reference ids, owners and bytes are unchanged; each identity's references keep their order.
        ids, owners, embeddings = migrated.storage.all_references(DIM)
        assert ids.tolist() == [row[0] for row in references_1]
        assert owners == [row[1] for row in references_1]
        assert [vector.tobytes() for vector in embeddings] == [row[2] for row in references_1]
        for name in metadata_1:
            expected = np.stack([np.frombuffer(row[2], np.float32) for row in references_1 if row[1] == name])
            np.testing.assert_array_equal(migrated.storage.identity_embeddings(name, DIM), expected)
            assert migrated.reference_count(name) == fresh.reference_count(name) == len(expected)
        assert len(migrated.index) == migrated.reference_count() == len(references_1)
        queries = np.random.default_rng(8).normal(size=(6, DIM)).astype(np.float32)
        for query in queries:
            expected_result = fresh.identify(embedding=query, top_k=4, threshold=10.0)
            assert migrated.identify(embedding=query, top_k=4, threshold=10.0) == expected_result
            claim = migrated.verify_claim("alice", embedding=query)
            assert claim == fresh.verify_claim("alice", embedding=query)


def test_ids_of_references_removed_before_the_migration_are_not_reused(schema_1_gallery: Path) -> None:
    with Gallery.open(schema_1_gallery, identity_model()) as gallery:
        gallery.enrol("frank", embeddings=np.ones((2, DIM), dtype=np.float32))
        assert gallery.storage.reference_ids("frank") == [13, 14]  # after erin's 11-12, deleted in schema 1
        assert gallery.identify(embedding=np.ones(DIM), top_k=1).identity == "frank"


def test_the_migrated_file_keeps_its_references_joined_to_identities(schema_1_gallery: Path) -> None:
    Gallery.open(schema_1_gallery, identity_model()).close()
    connection = sqlite3.connect(schema_1_gallery)
    try:
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"identities", "reference_embeddings", "gallery_settings"} <= tables
        assert not {"identities_v2", "reference_embeddings_v2"} & tables
        columns = [row[1] for row in connection.execute("PRAGMA table_info(reference_embeddings)")]
        assert columns == ["id", "identity_id", "embedding"]
    finally:
        connection.close()


def test_export_and_import_round_trip_through_a_migrated_gallery(schema_1_gallery: Path, tmp_path: Path) -> None:
    model = identity_model()
    with Gallery.open(schema_1_gallery, model) as migrated:
        migrated.export(tmp_path / "backup.npz")
        expected = {name: migrated.storage.identity_embeddings(name, DIM) for name in migrated.identities()}
        metadata = {name: migrated.metadata(name) for name in migrated.identities()}
    with Gallery.create(tmp_path / "copy.gallery", model) as copy:
        assert copy.import_from(tmp_path / "backup.npz") == sum(len(vectors) for vectors in expected.values())
        assert copy.identities() == sorted(expected)
        for name, vectors in expected.items():
            np.testing.assert_array_equal(copy.storage.identity_embeddings(name, DIM), vectors)
            assert copy.metadata(name) == metadata[name]


def test_a_failed_migration_leaves_the_schema_1_file_untouched(
    schema_1_gallery: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = read_schema_1(schema_1_gallery)
    # The last step fails after every table was already swapped: the whole transaction must roll back.
    broken = (*migration._VERSION_1_TO_2_SWAP, "INSERT INTO no_such_table VALUES (1)")
    monkeypatch.setattr(migration, "_VERSION_1_TO_2_SWAP", broken)
    with pytest.raises(GalleryError, match=r"cannot migrate gallery schema 1 to 2 .*no such table.*not changed"):
        Gallery.open(schema_1_gallery, identity_model())
    assert stored_version(schema_1_gallery) == 1 and read_schema_1(schema_1_gallery) == before
    monkeypatch.undo()
    with Gallery.open(schema_1_gallery, identity_model()) as gallery:
        assert gallery.identities() == sorted(before[0])


def test_references_without_an_identity_stop_the_migration(schema_1_gallery: Path) -> None:
    connection = sqlite3.connect(schema_1_gallery)  # foreign keys off: a damaged file
    with connection:
        connection.execute(INSERT_REFERENCE_1, ("ghost", np.zeros(DIM, np.float32).tobytes()))
    connection.close()
    before = read_schema_1(schema_1_gallery)
    with pytest.raises(GalleryError, match=r"without losing data.*not changed"):
        Gallery.open(schema_1_gallery, identity_model())
    assert stored_version(schema_1_gallery) == 1 and read_schema_1(schema_1_gallery) == before


def test_a_newer_schema_is_still_refused_in_one_line(schema_1_gallery: Path) -> None:
    connection = sqlite3.connect(schema_1_gallery)
    with connection:
        connection.execute("UPDATE gallery_settings SET value = '3' WHERE key = 'schema_version'")
    connection.close()
    with pytest.raises(GalleryError, match=f"schema version 3 is not supported .*version {SCHEMA_VERSION}"):
        Gallery.open(schema_1_gallery, identity_model())
    assert stored_version(schema_1_gallery) == 3


def test_an_empty_schema_1_gallery_migrates(tmp_path: Path) -> None:
    path = tmp_path / "empty.gallery"
    write_schema_1_gallery(path, identity_model(), enrolments=[], removed=())
    with Gallery.open(path, identity_model()) as gallery:
        assert gallery.identities() == [] and len(gallery.index) == 0
        gallery.enrol("alice", embeddings=np.ones(DIM, dtype=np.float32))
        assert gallery.storage.reference_ids("alice") == [1]
    assert stored_version(path) == SCHEMA_VERSION
