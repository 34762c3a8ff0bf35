"""Provides opening the chat database: private files, WAL, migrations with a backup first."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from r1chat.errors import StoreError, StoreFullError
from r1chat.files import private_dir
from r1chat.store.schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 30_000


def writable(path: Path) -> bool:
    """Whether the database at `path` (and its folder, for the WAL files) can be written."""
    folder = path.parent
    if not folder.exists():
        return True
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def _schema_mark(connection: sqlite3.Connection) -> tuple[int, set[str]]:
    """The database's `user_version` and its table names (what says it is r1chat's)."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    return version, {row[0] for row in rows}


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open an existing r1chat database for reading only (a read-only folder or file).

    Nothing is created, migrated or changed; every write fails with a clear error.
    """
    if not path.is_file():
        raise StoreError(f"{path} does not exist and its folder is read-only; nothing to read.")
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        with translate_errors(path):
            version, tables = _schema_mark(connection)
            if version != SCHEMA_VERSION or not tables >= R1CHAT_TABLES:
                raise StoreError(
                    f"{path} is read-only and is not an r1chat database of this version "
                    f"(schema {version}, this r1chat writes {SCHEMA_VERSION}); it was left as is."
                )
            connection.execute("PRAGMA query_only = ON")
    except BaseException:
        connection.close()
        raise
    return connection


def make_private(path: Path) -> None:
    """Make the database and its `-wal`/`-shm` companions readable only by the user."""
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(OSError):  # gone, or not ours to change
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)


R1CHAT_TABLES = frozenset({"conversations", "messages"})
"""Tables every r1chat schema has: with `user_version`, the mark of an r1chat database."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database at `path`, migrated to the current schema.

    A file that is not an SQLite database, or that a newer r1chat wrote, is refused
    with a clear message and left exactly as it was.
    """
    private_dir(path.parent)
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a chat database; move it aside.")
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    connection = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    try:
        with translate_errors(path):
            version, tables = _schema_mark(connection)
            if (version == 0 and tables) or (version > 0 and not tables >= R1CHAT_TABLES):
                raise StoreError(
                    f"{path} is an SQLite database that r1chat did not write, so it was left "
                    "unchanged; move it aside or point R1CHAT_HOME elsewhere."
                )
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{path} was written by a newer r1chat (schema {version}; this one reads up "
                    f"to {SCHEMA_VERSION}); upgrade r1chat. The file was not changed."
                )
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA foreign_keys = ON")
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            # WAL with synchronous=NORMAL survives a killed process; only a power cut can
            # lose the last commits.
            connection.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                migrate(connection, path, version)
    except BaseException:
        connection.close()
        raise
    make_private(path)
    return connection


def migrate(connection: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring the schema to `SCHEMA_VERSION`, one migration per transaction.

    A database that already holds data is first copied to `<name>.v<N>.bak`.
    """
    if version > 0:
        backup = path.with_name(f"{path.name}.v{version}.bak")
        if backup.exists():
            backup = path.with_name(f"{path.name}.v{version}.{int(time.time())}.bak")
        target = sqlite3.connect(backup)
        try:
            connection.backup(target)
        finally:
            target.close()
        backup.chmod(0o600)
    for target_version, script in enumerate(MIGRATIONS, start=1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while this one waited for the lock.
            current = connection.execute("PRAGMA user_version").fetchone()[0]
            if current >= target_version:
                connection.execute("COMMIT")
                continue
            for statement in _statements(script):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {target_version}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def _statements(script: str) -> Iterator[str]:
    """Split an SQL script into statements (triggers keep their inner semicolons)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {buffer.strip()[:60]}")


def error_name(error: sqlite3.Error) -> str:
    """SQLite's own name for the error (`SQLITE_FULL`, `SQLITE_BUSY_SNAPSHOT`, …), or ''
    where it is not given (an error raised by hand, or by Python rather than SQLite)."""
    return str(getattr(error, "sqlite_errorname", "") or "")


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn SQLite's errors into one-sentence r1chat errors that name the file."""
    try:
        yield
    except sqlite3.OperationalError as error:
        text = str(error)
        name = error_name(error)
        if name.startswith("SQLITE_FULL") or (not name and "full" in text):
            raise StoreFullError(
                f"Could not save to {path}: the disk is full; free some space. Nothing already "
                "saved was lost."
            ) from error
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or (
            not name and ("locked" in text or "busy" in text)
        ):
            raise StoreError(
                f"{path} stayed locked by another r1chat for {BUSY_TIMEOUT_MS // 1000} s; "
                "try again."
            ) from error
        if name.startswith("SQLITE_READONLY") or (
            not name and ("readonly" in text or "read-only" in text)
        ):
            raise StoreError(f"{path} is read-only; r1chat cannot save chats there.") from error
        if name.startswith("SQLITE_CANTOPEN") or (not name and "unable to open" in text):
            raise StoreError(f"Cannot open {path}; check the folder's permissions.") from error
        raise StoreError(f"The chat database {path} failed: {text}.") from error
    except sqlite3.IntegrityError as error:
        raise StoreError(f"The chat database {path} refused a change: {error}.") from error
    except sqlite3.DatabaseError as error:
        raise StoreError(
            f"{path} is not an r1chat chat database, or it is damaged ({error}); move it aside "
            "and r1chat will start a new one."
        ) from error
