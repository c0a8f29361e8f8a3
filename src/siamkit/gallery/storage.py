"""The gallery's SQLite file: identities, their metadata and reference embeddings, one transaction per write.

SQLite in WAL mode with `synchronous=FULL` means a write that returned has reached the disk, and a process
killed mid-write (or a power cut) leaves the file as it was before that write, so an acknowledged enrolment is
never lost and a half-done one never appears. `synchronous=NORMAL` would be as safe against corruption in WAL
mode but could lose the last acknowledged enrolments on a power cut, so it is not used.

Schema version 2 keys references by an integer identity id and allocates reference ids from a counter in
`gallery_settings` (`next_reference_id`), so ids are never reused after deletes (they are the search index's
ids) without `AUTOINCREMENT`'s per-row bookkeeping. Older files are migrated on open (see `migration`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siamkit.errors import ConfigError
from siamkit.gallery.claims import ClaimPolicy
from siamkit.gallery.errors import GalleryError
from siamkit.gallery.identification import IdentificationPolicy
from siamkit.gallery.migration import NEXT_REFERENCE_ID_KEY, upgrade_schema
from siamkit.gallery.search_config import SearchConfig

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2

PAGE_SIZE_BYTES = 16384
# How long opening a gallery waits for another process's exclusive lock before giving up.
OPEN_LOCK_WAIT_SECONDS = 5.0

# Integer identity ids make the by-identity index an append (new identities get growing ids) instead of a
# second random-order text index. The foreign key documents the relation; it is not enforced per row (see
# `_connect`): every write keeps it, and `PRAGMA foreign_key_check` verifies it in the tests.
_SCHEMA = """
CREATE TABLE gallery_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE identities (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, metadata TEXT NOT NULL DEFAULT '{}');
CREATE TABLE reference_embeddings (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    embedding BLOB NOT NULL
);
CREATE INDEX reference_embeddings_by_identity ON reference_embeddings(identity_id);
"""
_FIRST_REFERENCE_ID = 1

# Bulk inserts are single statements over a JSON array (and, for embeddings, one blob sliced by `substr`): about
# twice as fast as `executemany`'s bind-and-step per row (measured at 1M references). Chunked so that no bound
# value nears SQLite's 1 GB limit.
_BYTES_PER_STATEMENT = 64 * 1024 * 1024
_IDENTITIES_PER_STATEMENT = 100_000
_INSERT_IDENTITIES = "INSERT INTO identities (id, name, metadata) SELECT ?1 + key, value, '{}' FROM json_each(?2)"
_INSERT_IDENTITIES_WITH_METADATA = (
    "INSERT INTO identities (id, name, metadata) "
    "SELECT ?1 + key, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2)"
)
# ?1 the first reference id, ?2 the embeddings' bytes back to back, ?3 bytes per embedding, ?4 identity ids.
_INSERT_REFERENCES = (
    "INSERT INTO reference_embeddings (id, identity_id, embedding) "
    "SELECT ?1 + key, value, substr(?2, key * ?3 + 1, ?3) FROM json_each(?4)"
)


@dataclass(frozen=True)
class GallerySettings:
    """What a gallery file was made for (schema, model fingerprint, embedding length), how it is searched and
    how it decides claims."""

    schema_version: int
    fingerprint: str
    embedding_dim: int
    comparison: str
    search: SearchConfig = field(default_factory=SearchConfig)
    claims: ClaimPolicy = field(default_factory=ClaimPolicy)
    identification: IdentificationPolicy = field(default_factory=IdentificationPolicy)


class GalleryStorage:
    """Reads and writes one gallery SQLite file.

    Args:
        path: The gallery file.
        connection: An open connection to it (use `create` or `open`).
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.connection = connection

    @classmethod
    def create(cls, path: str | Path, settings: GallerySettings) -> GalleryStorage:
        """Creates a new gallery file; refuses to overwrite an existing one."""
        target = Path(path)
        if target.exists():
            raise GalleryError(f"{target}: a file already exists there; open it or choose another path")
        target.parent.mkdir(parents=True, exist_ok=True)
        connection = _connect(target, create=True)
        try:
            with connection:
                connection.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(
                    "INSERT INTO gallery_settings (key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(settings.schema_version)),
                        (NEXT_REFERENCE_ID_KEY, str(_FIRST_REFERENCE_ID)),
                        ("fingerprint", settings.fingerprint),
                        ("embedding_dim", str(settings.embedding_dim)),
                        ("comparison", settings.comparison),
                        *settings.search.to_settings().items(),
                        *settings.claims.to_settings().items(),
                        *settings.identification.to_settings().items(),
                    ],
                )
        except BaseException:
            connection.close()
            target.unlink(missing_ok=True)
            raise
        return cls(target, connection)

    @classmethod
    def open(cls, path: str | Path) -> GalleryStorage:
        """Opens an existing gallery file (never creates one), migrating an older schema version in place."""
        target = Path(path)
        if not target.is_file():
            raise GalleryError(f"{target}: no gallery file there")
        connection = _connect(target, create=False)
        try:
            upgrade_schema(connection, target)
        except BaseException:
            connection.close()
            raise
        return cls(target, connection)

    def read_settings(self) -> GallerySettings:
        """Reads the settings, with a clear error for files that are not siamkit galleries."""
        try:
            rows = dict(self.connection.execute("SELECT key, value FROM gallery_settings").fetchall())
        except sqlite3.DatabaseError as error:
            raise GalleryError(f"{self.path}: not a siamkit gallery file ({error})") from error
        try:
            settings = GallerySettings(
                schema_version=int(rows["schema_version"]),
                fingerprint=str(rows["fingerprint"]),
                embedding_dim=int(rows["embedding_dim"]),
                comparison=str(rows["comparison"]),
                search=SearchConfig.from_settings(rows),
                claims=ClaimPolicy.from_settings(rows),
                identification=IdentificationPolicy.from_settings(rows),
            )
        except (KeyError, ValueError, ConfigError) as error:
            raise GalleryError(f"{self.path}: gallery settings are incomplete or malformed ({error})") from error
        if settings.schema_version != SCHEMA_VERSION:
            raise GalleryError(
                f"{self.path}: gallery schema version {settings.schema_version} is not supported "
                f"(this siamkit reads version {SCHEMA_VERSION})"
            )
        return settings

    def write_policy(self, policy: ClaimPolicy | IdentificationPolicy) -> None:
        """Replaces a stored decision policy (claims or identification), in one transaction."""
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.executemany(
                "INSERT OR REPLACE INTO gallery_settings (key, value) VALUES (?, ?)", policy.to_settings().items()
            )

    def add_references(self, identity: str, embeddings: np.ndarray, metadata: Mapping[str, str] | None) -> list[int]:
        """Adds an identity's references (creating it, merging its metadata) in one transaction; returns row ids."""
        vectors = np.ascontiguousarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1)
        return self.add_many([(identity, metadata)], [identity] * len(vectors), vectors)

    def add_many(
        self,
        identities: Sequence[tuple[str, Mapping[str, str] | None]],
        owners: Sequence[str],
        vectors: np.ndarray,
    ) -> list[int]:
        """Adds identities and their references in one transaction: all or none.

        Args:
            identities: `(identity, metadata)` to create or merge metadata into, in enrolment order.
            owners: The identity of each reference, one per row of `vectors`.
            vectors: float32 embeddings, one row per reference.

        Returns:
            The new reference ids, in the order of the rows of `vectors`.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(owners):
            raise ValueError(f"{len(owners)} owners for embeddings of shape {tuple(vectors.shape)}")
        with self.connection:
            # IMMEDIATE takes the write lock before reading, so concurrent enrolments cannot lose metadata or ids.
            self.connection.execute("BEGIN IMMEDIATE")
            identity_ids = self._identity_ids(identities)
            first = self._next_reference_id()
            owner_ids = [identity_ids[owner] for owner in owners]
            row_bytes = vectors.shape[1] * vectors.itemsize
            chunk = max(1, _BYTES_PER_STATEMENT // row_bytes)
            for start in range(0, len(owner_ids), chunk):
                self.connection.execute(
                    _INSERT_REFERENCES,
                    (
                        first + start,
                        vectors[start : start + chunk].tobytes(),
                        row_bytes,
                        _json(owner_ids[start : start + chunk]),
                    ),
                )
            self.connection.execute(
                "UPDATE gallery_settings SET value = ? WHERE key = ?",
                (str(first + len(owner_ids)), NEXT_REFERENCE_ID_KEY),
            )
        return list(range(first, first + len(owner_ids)))

    def _identity_ids(self, identities: Sequence[tuple[str, Mapping[str, str] | None]]) -> dict[str, int]:
        """Creates the new identities and merges metadata into existing ones; returns every name's identity id.

        Must run inside the write transaction. Usually every identity is new, so they are inserted without first
        looking each name up; a name that already exists makes that insert fail, and then it is redone knowing
        the existing ids.
        """
        rows = [
            (name, json.dumps(dict(metadata), sort_keys=True) if metadata else None) for name, metadata in identities
        ]
        next_id = int(self.connection.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM identities").fetchone()[0])
        self.connection.execute("SAVEPOINT new_identities")
        try:
            ids, merges = self._insert_identities(rows, {}, next_id)
        except sqlite3.IntegrityError:
            self.connection.execute("ROLLBACK TO new_identities")
            ids, merges = self._insert_identities(rows, self._existing_ids([name for name, _ in rows]), next_id)
        finally:
            self.connection.execute("RELEASE new_identities")
        # json_patch merges new metadata into an existing identity's (keys and values are strings, never null).
        self.connection.executemany("UPDATE identities SET metadata = json_patch(metadata, ?) WHERE id = ?", merges)
        return ids

    def _existing_ids(self, names: list[str]) -> dict[str, int]:
        """The identity ids of those `names` that are enrolled."""
        # SQLite's JSON functions cut text at a NUL character, so such names are looked up one by one.
        plain = [name for name in names if "\x00" not in name]
        found = dict(
            self.connection.execute(
                "SELECT name, id FROM identities WHERE name IN (SELECT value FROM json_each(?))", (_json(plain),)
            ).fetchall()
        )
        for name in names:
            if "\x00" in name:
                row = self.connection.execute("SELECT id FROM identities WHERE name = ?", (name,)).fetchone()
                if row is not None:
                    found[name] = int(row[0])
        return found

    def _insert_identities(
        self, rows: list[tuple[str, str | None]], existing: dict[str, int], next_id: int
    ) -> tuple[dict[str, int], list[tuple[str, int]]]:
        """Inserts the names not in `existing` with ids from `next_id` on; returns all ids and metadata merges."""
        ids = dict(existing)
        new_names: list[str] = []
        new_metadata: list[str] = []
        merges: list[tuple[str, int]] = []  # (metadata, identity id) for names that exist or repeat in `rows`
        with_metadata = False
        for name, metadata in rows:
            known = ids.get(name)
            if known is None:
                ids[name] = next_id + len(new_names)
                new_names.append(name)
                new_metadata.append(metadata or "{}")
                with_metadata = with_metadata or metadata is not None
            elif metadata is not None:
                merges.append((metadata, known))
        for start in range(0, len(new_names), _IDENTITIES_PER_STATEMENT):
            names = new_names[start : start + _IDENTITIES_PER_STATEMENT]
            metadata_texts = new_metadata[start : start + _IDENTITIES_PER_STATEMENT]
            if with_metadata:
                statement, payload = (
                    _INSERT_IDENTITIES_WITH_METADATA,
                    _json(list(zip(names, metadata_texts, strict=True))),
                )
            else:
                statement, payload = _INSERT_IDENTITIES, _json(names)
            # JSON writes a NUL character as \u0000, and SQLite's JSON functions would cut the text there; bound
            # parameters keep it. (A name with a literal backslash-u0000 takes this slower path too, harmlessly.)
            if "\\u0000" in payload:
                self.connection.executemany(
                    "INSERT INTO identities (id, name, metadata) VALUES (?, ?, ?)",
                    zip(range(next_id + start, next_id + start + len(names)), names, metadata_texts, strict=True),
                )
            else:
                self.connection.execute(statement, (next_id + start, payload))
        return ids, merges

    def _next_reference_id(self) -> int:
        row = self.connection.execute(
            "SELECT value FROM gallery_settings WHERE key = ?", (NEXT_REFERENCE_ID_KEY,)
        ).fetchone()
        if row is None:
            raise GalleryError(f"{self.path}: gallery settings lack {NEXT_REFERENCE_ID_KEY}; nothing was added")
        return int(row[0])

    def remove_identity(self, identity: str) -> list[int]:
        """Deletes an identity and its references in one transaction; returns the deleted reference ids."""
        with self.connection:
            self.connection.execute("BEGIN IMMEDIATE")
            row = self.connection.execute("SELECT id FROM identities WHERE name = ?", (identity,)).fetchone()
            if row is None:
                raise GalleryError(f"{self.path}: unknown identity {identity!r}")
            ids = [
                int(reference[0])
                for reference in self.connection.execute(
                    "SELECT id FROM reference_embeddings WHERE identity_id = ? ORDER BY id", row
                )
            ]
            # References first: foreign keys are not enforced, so nothing would cascade.
            self.connection.execute("DELETE FROM reference_embeddings WHERE identity_id = ?", row)
            self.connection.execute("DELETE FROM identities WHERE id = ?", row)
        return ids

    def reference_ids(self, identity: str) -> list[int]:
        rows = self.connection.execute(
            "SELECT id FROM reference_embeddings WHERE identity_id = (SELECT id FROM identities WHERE name = ?) "
            "ORDER BY id",
            (identity,),
        ).fetchall()
        return [int(row[0]) for row in rows]

    def identity_embeddings(self, identity: str, embedding_dim: int) -> np.ndarray:
        """One identity's reference embeddings `(N, D)` in enrolment order (N is 0 when unknown)."""
        rows = self.connection.execute(
            "SELECT embedding FROM reference_embeddings WHERE identity_id = (SELECT id FROM identities WHERE name = ?) "
            "ORDER BY id",
            (identity,),
        ).fetchall()
        embeddings = np.zeros((len(rows), embedding_dim), dtype=np.float32)
        for position, row in enumerate(rows):
            embeddings[position] = np.frombuffer(row[0], dtype=np.float32)
        return embeddings

    def identities(self) -> list[str]:
        return [str(row[0]) for row in self.connection.execute("SELECT name FROM identities ORDER BY name")]

    def metadata(self, identity: str) -> dict[str, str] | None:
        """The identity's metadata, or None when it is not enrolled."""
        row = self.connection.execute("SELECT metadata FROM identities WHERE name = ?", (identity,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def reference_count(self) -> int:
        return int(self.connection.execute("SELECT COUNT(*) FROM reference_embeddings").fetchone()[0])

    def all_references(self, embedding_dim: int) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Every reference: `(ids (N,) int64, identities, embeddings (N, D) float32)`, in id order."""
        rows = self.connection.execute(
            "SELECT reference.id, identity.name, reference.embedding FROM reference_embeddings AS reference "
            "JOIN identities AS identity ON identity.id = reference.identity_id ORDER BY reference.id"
        ).fetchall()
        row_bytes = embedding_dim * 4
        wrong = next((row for row in rows if len(row[2]) != row_bytes), None)
        if wrong is not None:
            values = len(wrong[2]) / 4
            raise GalleryError(f"{self.path}: reference {wrong[0]} has {values:g} values, not {embedding_dim}")
        # One join and one copy instead of a numpy assignment per row (this runs on every open).
        data = b"".join([row[2] for row in rows])
        embeddings = np.frombuffer(data, dtype=np.float32).reshape(len(rows), embedding_dim).copy()
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        return ids, [str(row[1]) for row in rows], embeddings

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file, so a stale index can be noticed."""
        return int(self.connection.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        self.connection.close()


def _json(values: list[Any]) -> str:
    # Not ASCII-escaped: names reach SQLite as the same UTF-8 text a bound parameter would.
    return json.dumps(values, ensure_ascii=False)


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"
    # Autocommit mode: every write opens its own BEGIN IMMEDIATE and `with connection:` commits or rolls back.
    try:
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None, timeout=OPEN_LOCK_WAIT_SECONDS
        )
    except sqlite3.Error as error:
        raise GalleryError(f"{path}: cannot open the gallery file ({error})") from error
    try:
        if create:
            # Must precede WAL mode. A 512-byte float32 embedding per row fits 7 to a 4 KiB page but 31 to a
            # 16 KiB one: fewer page splits and WAL frames per enrolment (~1.15x faster bulk enrolment, measured).
            connection.execute(f"PRAGMA page_size={PAGE_SIZE_BYTES}")
        connection.execute("PRAGMA journal_mode=WAL").fetchone()
        connection.execute("PRAGMA synchronous=FULL")
        # Every write keeps references pointing at existing identities in its own transaction (removal deletes
        # both), so the per-row foreign-key check would only cost time (~5-8% of bulk enrolment, measured).
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("PRAGMA busy_timeout=10000")
        # 64 MiB of page cache keeps large galleries' B-tree indexes in memory while enrolling (default is 2 MiB).
        connection.execute("PRAGMA cache_size=-65536")
    except sqlite3.DatabaseError as error:
        connection.close()
        if "locked" in str(error):
            raise GalleryError(
                f"{path}: the gallery file is locked by another process ({error}); stop that process or try again"
            ) from error
        raise GalleryError(f"{path}: not a siamkit gallery file ({error})") from error
    return connection
