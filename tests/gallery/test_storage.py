"""Gallery storage (schema 2): reference ids are never reused, bulk inserts keep every name, vector and metadata."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from siamkit.gallery import GalleryError, storage
from siamkit.gallery.migration import NEXT_REFERENCE_ID_KEY
from siamkit.gallery.search_config import SearchConfig
from siamkit.gallery.storage import GallerySettings, GalleryStorage

DIM = 4


def new_storage(path: Path) -> GalleryStorage:
    settings = GallerySettings(
        schema_version=storage.SCHEMA_VERSION, fingerprint="f", embedding_dim=DIM, comparison="x"
    )
    return GalleryStorage.create(path, settings)


def vectors(count: int, start: float = 0.0) -> np.ndarray:
    return (np.arange(count * DIM, dtype=np.float32).reshape(count, DIM) + start).astype(np.float32)


def add(gallery: GalleryStorage, name: str, count: int, metadata: dict[str, str] | None = None) -> list[int]:
    return gallery.add_many([(name, metadata)], [name] * count, vectors(count))


def foreign_key_problems(gallery: GalleryStorage) -> list[tuple[object, ...]]:
    return list(gallery.connection.execute("PRAGMA foreign_key_check").fetchall())


def test_reference_ids_are_never_reused_after_deletes(tmp_path: Path) -> None:
    path = tmp_path / "g.gallery"
    gallery = new_storage(path)
    assert add(gallery, "alice", 2) == [1, 2]
    assert add(gallery, "bob", 3) == [3, 4, 5]
    assert gallery.remove_identity("bob") == [3, 4, 5]  # the highest ids go
    assert add(gallery, "carol", 1) == [6]
    assert gallery.remove_identity("carol") == [6]
    assert gallery.remove_identity("alice") == [1, 2]  # now the gallery is empty
    assert gallery.reference_count() == 0
    gallery.close()
    reopened = GalleryStorage.open(path)
    try:
        assert add(reopened, "alice", 1) == [7]  # the same name again gets a new id, after reopening too
        row = reopened.connection.execute(
            "SELECT value FROM gallery_settings WHERE key = ?", (NEXT_REFERENCE_ID_KEY,)
        ).fetchone()
        assert row == ("8",)
        assert reopened.all_references(DIM)[0].tolist() == [7]
    finally:
        reopened.close()


def test_a_failed_enrolment_hands_out_no_ids(tmp_path: Path) -> None:
    gallery = new_storage(tmp_path / "g.gallery")
    try:
        add(gallery, "alice", 1)
        with pytest.raises(KeyError):
            gallery.add_many([("bob", None)], ["nobody"], vectors(1))  # an owner that is not enrolled
        assert gallery.identities() == ["alice"] and add(gallery, "bob", 1) == [2]
    finally:
        gallery.close()


def test_removal_deletes_the_references_with_the_identity(tmp_path: Path) -> None:
    gallery = new_storage(tmp_path / "g.gallery")
    try:
        add(gallery, "alice", 2)
        add(gallery, "bob", 1)
        gallery.remove_identity("alice")
        count = gallery.connection.execute("SELECT COUNT(*) FROM reference_embeddings").fetchone()[0]
        assert count == 1 and gallery.reference_ids("alice") == [] and foreign_key_problems(gallery) == []
        with pytest.raises(GalleryError, match="unknown identity 'alice'"):
            gallery.remove_identity("alice")
    finally:
        gallery.close()


def test_one_batch_mixing_new_existing_and_repeated_identities(tmp_path: Path) -> None:
    gallery = new_storage(tmp_path / "g.gallery")
    try:
        add(gallery, "alice", 1, {"team": "ops", "badge": "1"})
        batch = vectors(5, start=100.0)
        owners = ["bob", "alice", "bob", "carol", "alice"]
        ids = gallery.add_many(
            [("bob", {"team": "dev"}), ("alice", {"badge": "2"}), ("carol", None), ("bob", {"room": "4"})],
            owners,
            batch,
        )
        assert ids == [2, 3, 4, 5, 6]
        assert gallery.identities() == ["alice", "bob", "carol"]
        assert gallery.metadata("alice") == {"team": "ops", "badge": "2"}
        assert gallery.metadata("bob") == {"team": "dev", "room": "4"}
        assert gallery.metadata("carol") == {}
        np.testing.assert_array_equal(
            gallery.identity_embeddings("alice", DIM), np.stack([vectors(1)[0], batch[1], batch[4]])
        )
        np.testing.assert_array_equal(gallery.identity_embeddings("bob", DIM), batch[[0, 2]])
        _, names, _ = gallery.all_references(DIM)
        assert names == ["alice", *owners] and foreign_key_problems(gallery) == []
    finally:
        gallery.close()


@pytest.mark.parametrize("name", ["nul\x00inside", 'zoë "quoted" \\ 名前', "123", "[1]"])
def test_unusual_names_are_stored_exactly(tmp_path: Path, name: str) -> None:
    gallery = new_storage(tmp_path / "g.gallery")
    try:
        add(gallery, name, 1, {"k": "v\x00w"})
        add(gallery, name, 1, {"other": "x"})  # finds the existing identity by its exact name
        assert gallery.identities() == [name] and gallery.reference_ids(name) == [1, 2]
        assert gallery.metadata(name) == {"k": "v\x00w", "other": "x"}
        assert gallery.remove_identity(name) == [1, 2]
    finally:
        gallery.close()


def test_large_batches_are_split_across_statements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_BYTES_PER_STATEMENT", 3 * DIM * 4)  # three references per statement
    monkeypatch.setattr(storage, "_IDENTITIES_PER_STATEMENT", 2)
    gallery = new_storage(tmp_path / "g.gallery")
    try:
        names = [f"person-{index}" for index in range(7)]
        metadata = [({"index": str(index)} if index % 2 else None) for index in range(7)]
        batch = vectors(8, start=0.5)
        owners = [*names, "person-3"]
        assert gallery.add_many(list(zip(names, metadata, strict=True)), owners, batch) == list(range(1, 9))
        ids, stored_names, embeddings = gallery.all_references(DIM)
        assert ids.tolist() == list(range(1, 9)) and stored_names == owners
        np.testing.assert_array_equal(embeddings, batch)
        for name, expected in zip(names, metadata, strict=True):
            assert gallery.metadata(name) == (expected or {})
    finally:
        gallery.close()


def test_a_reference_of_the_wrong_length_is_reported(tmp_path: Path) -> None:
    gallery = new_storage(tmp_path / "g.gallery")
    try:
        add(gallery, "alice", 2)
        with gallery.connection:
            gallery.connection.execute("UPDATE reference_embeddings SET embedding = zeroblob(12) WHERE id = 2")
        with pytest.raises(GalleryError, match="reference 2 has 3 values, not 4"):
            gallery.all_references(DIM)
    finally:
        gallery.close()


def test_new_files_are_schema_2_with_integer_identity_keys(tmp_path: Path) -> None:
    new_storage(tmp_path / "g.gallery").close()
    connection = sqlite3.connect(tmp_path / "g.gallery")
    try:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(reference_embeddings)")]
        assert columns == ["id", "identity_id", "embedding"]
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "sqlite_sequence" not in tables  # no AUTOINCREMENT
    finally:
        connection.close()
    reopened = GalleryStorage.open(tmp_path / "g.gallery")
    try:
        settings = reopened.read_settings()
        assert settings.schema_version == storage.SCHEMA_VERSION == 2 and settings.search == SearchConfig()
    finally:
        reopened.close()
