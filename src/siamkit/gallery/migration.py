"""Bringing gallery files of older schema versions up to date, in place, in one transaction.

A migration runs when a gallery is opened. It either completes and commits, or (an error, a killed process, a
power cut) leaves the file exactly as it was: SQLite rolls back the whole transaction. Each step is frozen at the
schema it produces, so a later schema adds a step rather than editing one.

Files of unknown (newer) versions and files that are not galleries are left alone here; reading their settings
then refuses them with a one-line error.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from siamkit.gallery.errors import GalleryError

logger = logging.getLogger(__name__)

# The settings row holding the next reference id to hand out (schema 2 on): ids are never reused.
NEXT_REFERENCE_ID_KEY = "next_reference_id"

# The schema version 1 wrote, which `_VERSION_1_TO_2` reads; kept so that tests and the enrolment benchmark can
# write version-1 files exactly as older siamkit did.
SCHEMA_1 = """
CREATE TABLE gallery_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities (name TEXT PRIMARY KEY, metadata TEXT NOT NULL DEFAULT '{}');
CREATE TABLE reference_embeddings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity TEXT NOT NULL REFERENCES identities(name) ON DELETE CASCADE,
    embedding BLOB NOT NULL
);
CREATE INDEX reference_embeddings_by_identity ON reference_embeddings(identity);
"""

# Schema 1 to 2: integer identity ids instead of names as the references' key, no AUTOINCREMENT (the id counter
# lives in gallery_settings). Identity ids are the old rowids and reference ids are kept, so nothing else moves.
_VERSION_1_TO_2 = (
    "CREATE TABLE identities_v2 ("
    "id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, metadata TEXT NOT NULL DEFAULT '{}')",
    "INSERT INTO identities_v2 (id, name, metadata) SELECT rowid, name, metadata FROM identities ORDER BY rowid",
    "CREATE TABLE reference_embeddings_v2 ("
    "id INTEGER PRIMARY KEY, "
    "identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE, "
    "embedding BLOB NOT NULL)",
    "INSERT INTO reference_embeddings_v2 (id, identity_id, embedding) "
    "SELECT reference.id, identity.rowid, reference.embedding FROM reference_embeddings AS reference "
    "JOIN identities AS identity ON identity.name = reference.identity ORDER BY reference.id",
)
# After the counts are checked: swap the new tables in and record the version.
_VERSION_1_TO_2_SWAP = (
    "DROP TABLE reference_embeddings",
    "DROP TABLE identities",
    "ALTER TABLE identities_v2 RENAME TO identities",
    "ALTER TABLE reference_embeddings_v2 RENAME TO reference_embeddings",
    "CREATE INDEX reference_embeddings_by_identity ON reference_embeddings(identity_id)",
    "UPDATE gallery_settings SET value = '2' WHERE key = 'schema_version'",
)


def upgrade_schema(connection: sqlite3.Connection, path: Path) -> None:
    """Migrates the gallery file behind `connection` to the current schema when it is of an older version.

    Args:
        connection: An autocommit-mode connection (`isolation_level=None`) with no transaction open, and
            foreign-key enforcement off (tables are dropped and renamed).
        path: The file, for messages.

    Raises:
        GalleryError: The file's contents do not allow a lossless migration (nothing was changed).
    """
    stored = _stored_version(connection)
    if stored not in _STEPS:
        return  # current, newer or unreadable: reading the settings accepts or refuses it
    started = time.perf_counter()
    first_version = version = stored
    try:
        with connection:
            # The write lock first, then the version again: another process may have migrated the file meanwhile.
            connection.execute("BEGIN IMMEDIATE")
            stored = _stored_version(connection)
            if stored not in _STEPS:
                return
            first_version = version = stored
            logger.info(
                "migrating gallery %s from schema version %d (one transaction; a large gallery takes a while)",
                path,
                version,
            )
            while version in _STEPS:
                version = _STEPS[version](connection, path)
    except sqlite3.Error as error:
        # Locked by another process (perhaps migrating it), disk full, a failing step: all of it rolled back.
        raise GalleryError(
            f"{path}: cannot migrate gallery schema {version} to {version + 1} ({error}); the file was not changed"
        ) from error
    logger.info(
        "migrated gallery %s from schema version %d to %d in %.1f s",
        path,
        first_version,
        version,
        time.perf_counter() - started,
    )


def _stored_version(connection: sqlite3.Connection) -> int | None:
    try:
        row = connection.execute("SELECT value FROM gallery_settings WHERE key = 'schema_version'").fetchone()
        return None if row is None else int(row[0])
    except (sqlite3.DatabaseError, ValueError):
        return None


def _migrate_1_to_2(connection: sqlite3.Connection, path: Path) -> int:
    identities = _count(connection, "identities")
    references = _count(connection, "reference_embeddings")
    # AUTOINCREMENT's high-water mark: ids of references deleted at the end must not come back either.
    sequence = connection.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'reference_embeddings'"
    ).fetchone()[0]
    largest = connection.execute("SELECT COALESCE(MAX(id), 0) FROM reference_embeddings").fetchone()[0]
    for statement in _VERSION_1_TO_2:
        connection.execute(statement)
    copied_identities = _count(connection, "identities_v2")
    copied_references = _count(connection, "reference_embeddings_v2")
    if (copied_identities, copied_references) != (identities, references):
        # Only possible for a damaged file (references of a missing identity); refuse rather than drop them.
        raise GalleryError(
            f"{path}: cannot migrate gallery schema 1 to 2 without losing data ({identities} identities and "
            f"{references} references, but {copied_identities} and {copied_references} map over); "
            "the file was not changed"
        )
    for statement in _VERSION_1_TO_2_SWAP:
        connection.execute(statement)
    connection.execute(
        "INSERT INTO gallery_settings (key, value) VALUES (?, ?)",
        (NEXT_REFERENCE_ID_KEY, str(max(int(sequence), int(largest)) + 1)),
    )
    return 2


def _count(connection: sqlite3.Connection, table: str) -> int:
    return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# Schema version -> the step migrating it to the next version (returns that version).
_STEPS: dict[int, Callable[[sqlite3.Connection, Path], int]] = {1: _migrate_1_to_2}
