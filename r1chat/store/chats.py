"""Provides `ChatStore`: conversations and messages in SQLite, as plain domain objects."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from r1chat.domain import Conversation, Message, MessageStatus, Role
from r1chat.errors import NotFoundError, R1ChatError, StoreError, StoreFullError
from r1chat.paths import Paths
from r1chat.store.database import (
    connect,
    connect_read_only,
    make_private,
    translate_errors,
    writable,
)
from r1chat.store.ids import looks_like_id_prefix, new_id
from r1chat.text import shared_prefix, terminal_safe

DATABASE_NAME = "chats.db"
AFTER_LEAF: Literal["leaf"] = "leaf"
"""`add_message`'s default parent: the conversation's current leaf (its newest message if none)."""
TITLE_LENGTH = 80


def title_from(text: str) -> str:
    """A conversation title from its first message: the first line, trimmed."""
    for line in text.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"
    return "New chat"


class ChatStore:
    """Saved conversations in one SQLite file (WAL, one connection per thread).

    Every write runs in a `BEGIN IMMEDIATE` transaction, so two r1chat processes
    on one database wait for each other instead of failing.
    """

    def __init__(self, path: Path, *, read_only: bool | None = None) -> None:
        self.path = path
        self.read_only = not writable(path) if read_only is None else read_only
        """Opened for reading only (a read-only folder or file): saving fails with a notice."""
        self.read_only_reason = "the chats folder is read-only" if self.read_only else None
        """Why the store is read-only, in words for a notice."""
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._using = threading.RLock()
        """Held while a connection is in use: `close` never closes one under another thread."""
        self.on_restored: Callable[[str], None] | None = None
        """Told, in one sentence, when the database file vanished and was written back."""
        try:
            self._db()  # open now: migrations and errors surface here, not mid-chat
        except StoreError as error:  # no room to open for writing: read what is there
            cause = str(error.__cause__ or "")
            full = isinstance(error, StoreFullError) or "disk I/O error" in cause
            if self.read_only or not full or not path.is_file():
                raise
            self.read_only, self.read_only_reason = True, "the disk is full or failing"
            self._local = threading.local()
            self._db()
        self.recovered = 0 if self.read_only else self.mark_interrupted()
        """Replies found still `streaming` (their process died) and marked `interrupted`."""

    @classmethod
    def open(cls, paths: Paths) -> ChatStore:
        """The user's chat database in the data folder."""
        return cls(paths.data_dir / DATABASE_NAME)

    def _db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = connect_read_only(self.path) if self.read_only else connect(self.path)
            self._local.connection = connection
            self._local.inode = _inode(self.path)
            with self._lock:
                self._connections.append(connection)
        return connection

    @property
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (for tests and maintenance)."""
        return self._db()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (`BEGIN IMMEDIATE`) on this thread's connection."""
        if self.read_only:
            raise StoreError(
                f"Chats in {self.path.parent} are open read-only ({self.read_only_reason}); "
                "nothing new is saved."
            )
        with self._using:
            db = self._still_there()
            with translate_errors(self.path):
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise

    def _still_there(self) -> sqlite3.Connection:
        """This thread's connection, after checking that the database file is still the one
        it opened. Deleted while r1chat ran (every chat would be gone at exit), it is written
        back from the open connection, which still holds all of it; replaced by another
        file, the connection moves to that one."""
        db = self._db()
        if _inode(self.path) == getattr(self._local, "inode", None):
            return db
        with self._lock:
            if _inode(self.path) is None:
                with translate_errors(self.path):
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    fresh = sqlite3.connect(self.path)
                    try:
                        db.backup(fresh)
                    finally:
                        fresh.close()
                make_private(self.path)
                if self.on_restored is not None:
                    self.on_restored(
                        f"The chats database {self.path} was deleted while r1chat ran; it was "
                        "written back from the open copy, with every chat, and saving goes on."
                    )
            with contextlib.suppress(ValueError):
                self._connections.remove(db)
        db.close()
        self._local.connection = None
        return self._db()

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._using, translate_errors(self.path):
            cursor = self._db().execute(sql, args)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def close(self) -> None:
        """Close every connection this store opened."""
        with self._using:  # waits for any thread still using its connection
            with self._lock:
                connections, self._connections = self._connections, []
            for connection in connections:
                connection.close()
            self._local = threading.local()
        if not self.read_only:
            make_private(self.path)

    # Conversations

    def create_conversation(
        self, title: str = "", model: str | None = None, params: dict[str, Any] | None = None
    ) -> Conversation:
        """Start a new, empty conversation."""
        now = time.time()
        conversation = Conversation(new_id(now), title, now, now, model, dict(params or {}))
        with self.transaction() as db:
            db.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at, model, params) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conversation.id, title, now, now, model, json.dumps(conversation.params)),
            )
        return conversation

    def resolve(self, prefix: str) -> str:
        """The full id of the one conversation whose id starts with `prefix`."""
        prefix = prefix.strip().upper()
        if not looks_like_id_prefix(prefix):
            raise NotFoundError(f"'{prefix}' is not a conversation id; see `r1chat list`.")
        rows = self.read(
            "SELECT id, title FROM conversations WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
            (prefix, prefix + "\x7f"),
        )
        if not rows:
            raise NotFoundError(
                f"No conversation with an id starting '{prefix}'; see `r1chat list`."
            )
        if len(rows) > 1:
            ids = [str(row["id"]) for row in rows]
            shown = "; ".join(
                f"{ids[i][: unique_length(ids, i)]} {terminal_safe(row['title'] or 'New chat')!r}"
                for i, row in enumerate(rows[:5])
            )
            more = ", …" if len(rows) > 5 else ""
            raise NotFoundError(
                f"'{prefix}' matches more than one conversation ({shown}{more}); type more "
                "of the id."
            )
        return str(rows[0]["id"])

    def conversation(self, conversation_id: str, messages: bool = True) -> Conversation:
        """A conversation with its current branch of messages, oldest first."""
        rows = self.read(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
            "FROM conversations c WHERE c.id = ?",
            (conversation_id,),
        )
        if not rows:
            raise NotFoundError(f"No conversation {conversation_id}; see `r1chat list`.")
        conversation = _conversation(rows[0])
        if not messages:
            return conversation
        branch = self.branch(conversation_id)
        return replace(conversation, messages=tuple(branch))

    def branch(self, conversation_id: str, leaf_id: str | None = None) -> list[Message]:
        """The messages from the first one to `leaf_id`.

        Without `leaf_id` the branch is the one the user last looked at (the stored
        leaf), or the newest message's when none is stored or it was deleted.
        """
        rows = self._message_tuples("WHERE conversation_id = ? ORDER BY rowid", (conversation_id,))
        if not rows:
            return []
        by_id = {row[0]: row for row in rows}
        if leaf_id:
            current = by_id.get(leaf_id)
            if current is None:
                raise NotFoundError(f"No message {leaf_id} in conversation {conversation_id}.")
        else:
            stored = self.current_leaf(conversation_id)
            current = by_id.get(stored, rows[-1]) if stored else rows[-1]
        path: list[Message] = []
        seen: set[str] = set()
        while current is not None and current[0] not in seen:  # a loop in the data ends here
            seen.add(current[0])
            path.append(_message_from(current))
            current = by_id.get(current[PARENT]) if current[PARENT] else None
        path.reverse()
        return path

    def _message_tuples(self, where: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Message rows as plain tuples in `MESSAGE_COLUMNS` order (the fast way for many)."""
        with self._using, translate_errors(self.path):
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages {where}"
            return self._db().execute(sql, args).fetchall()

    def message_links(self, conversation_id: str) -> list[tuple[str, str | None, str]]:
        """(id, parent id, role) of every message of a conversation, in the order written."""
        sql = "SELECT id, parent_id, role FROM messages WHERE conversation_id = ? ORDER BY rowid"
        with self._using, translate_errors(self.path):
            return self._db().execute(sql, (conversation_id,)).fetchall()

    def current_leaf(self, conversation_id: str) -> str | None:
        """The message the conversation's current branch ends at, as stored."""
        rows = self.read("SELECT leaf_id FROM conversations WHERE id = ?", (conversation_id,))
        return rows[0]["leaf_id"] if rows else None

    def set_leaf(self, conversation_id: str, message_id: str) -> None:
        """Make the branch ending at `message_id` the conversation's current one."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE conversations SET leaf_id = ? WHERE id = ? AND EXISTS "
                "(SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)",
                (message_id, conversation_id, message_id, conversation_id),
            ).rowcount
        if not changed:
            raise NotFoundError(f"No message {message_id} in conversation {conversation_id}.")

    def update_conversation(
        self,
        conversation_id: str,
        *,
        model: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Record the model (display name) and settings a conversation runs with.

        `params` replaces the saved settings whole; `None` keeps them.
        """
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE conversations SET model = COALESCE(?, model), "
                "params = COALESCE(?, params) WHERE id = ?",
                (model, None if params is None else json.dumps(params), conversation_id),
            ).rowcount
        if not changed:
            raise NotFoundError(f"No conversation {conversation_id}.")

    def all_messages(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation, all branches, in the order they were written."""
        rows = self._message_tuples("WHERE conversation_id = ? ORDER BY rowid", (conversation_id,))
        return [_message_from(row) for row in rows]

    def list_conversations(
        self, limit: int = 50, offset: int = 0, title: str = ""
    ) -> list[Conversation]:
        """Conversations, most recently updated first, without their messages.

        `title` keeps only those whose title contains it (any case).
        """
        pattern = "%" + title.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.read(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n "
            "FROM conversations c WHERE c.title LIKE ? ESCAPE '\\' "
            "ORDER BY c.updated_at DESC, c.id DESC LIMIT ? OFFSET ?",
            (pattern, limit, offset),
        )
        return [_conversation(row) for row in rows]

    def versions(self, message_id: str) -> list[Message]:
        """A message and its alternatives (same parent, same role), oldest first."""
        rows = self.read(
            "SELECT s.* FROM messages m JOIN messages s ON s.conversation_id = m.conversation_id "
            "AND s.role = m.role AND s.parent_id IS m.parent_id WHERE m.id = ? ORDER BY s.rowid",
            (message_id,),
        )
        return [_message(row) for row in rows]

    def leaves(self, conversation_id: str, limit: int = 50) -> list[tuple[Message, Message | None]]:
        """The ends of a conversation's branches, newest first, each with the last user
        message on its way (the leaf itself when it is one)."""
        rows = self.read(
            "SELECT m.*, p.id AS p_id FROM messages m LEFT JOIN messages p ON p.id = m.parent_id "
            "WHERE m.conversation_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM messages c WHERE c.parent_id = m.id) "
            "ORDER BY m.rowid DESC LIMIT ?",
            (conversation_id, limit),
        )
        found: list[tuple[Message, Message | None]] = []
        for row in rows:
            leaf = _message(row)
            asked = leaf if leaf.role == "user" else None
            if asked is None and row["p_id"] is not None:
                parents = self.read("SELECT * FROM messages WHERE id = ?", (row["p_id"],))
                asked = _message(parents[0]) if parents and parents[0]["role"] == "user" else None
            found.append((leaf, asked))
        return found

    def newest_leaf(self, message_id: str) -> str:
        """The newest message that descends from `message_id` (itself if none)."""
        rows = self.read(
            "WITH RECURSIVE below(id) AS (SELECT ? UNION "  # UNION: a loop in the data ends
            "SELECT m.id FROM messages m JOIN below b ON m.parent_id = b.id) "
            "SELECT below.id FROM below JOIN messages m ON m.id = below.id "
            "ORDER BY m.rowid DESC LIMIT 1",
            (message_id,),
        )
        return str(rows[0]["id"]) if rows else message_id

    def latest(self) -> Conversation | None:
        """The most recently updated conversation, if any."""
        found = self.list_conversations(limit=1)
        return found[0] if found else None

    def count_conversations(self) -> int:
        """How many conversations are saved."""
        return int(self.read("SELECT count(*) AS n FROM conversations")[0]["n"])

    def rename(self, conversation_id: str, title: str) -> None:
        """Give a conversation a new title."""
        title = " ".join(title.split())
        if not title:
            raise R1ChatError("A title cannot be empty.")
        with self.transaction() as db:
            # The list is ordered by the last message: a new title does not move a chat up.
            changed = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id)
            ).rowcount
        if not changed:
            raise NotFoundError(f"No conversation {conversation_id}.")

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation and all its messages."""
        with self.transaction() as db:
            db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            changed = db.execute(
                "DELETE FROM conversations WHERE id = ?", (conversation_id,)
            ).rowcount
        if not changed:
            raise NotFoundError(f"No conversation {conversation_id}.")

    # Messages

    def add_message(
        self,
        conversation_id: str,
        role: Role,
        content: str,
        *,
        reasoning: str = "",
        status: MessageStatus = "complete",
        parent_id: str | Literal["leaf"] | None = AFTER_LEAF,
        model: str | None = None,
        stats: dict[str, Any] | None = None,
    ) -> Message:
        """Add a message under `parent_id` (`None`: a first message; default: after the
        current leaf). The new message becomes the conversation's current leaf."""
        now = time.time()
        with self.transaction() as db:
            if parent_id == AFTER_LEAF:
                row = db.execute(
                    "SELECT COALESCE((SELECT m.id FROM conversations c JOIN messages m "
                    "ON m.id = c.leaf_id WHERE c.id = ?), (SELECT id FROM messages "
                    "WHERE conversation_id = ? ORDER BY rowid DESC LIMIT 1))",
                    (conversation_id, conversation_id),
                ).fetchone()
                parent_id = row[0] if row else None
            message = Message(
                new_id(now),
                conversation_id,
                role,
                content,
                reasoning,
                status,
                parent_id,
                model,
                stats,
                now,
                now,
            )
            db.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, reasoning, "
                "status, model, stats, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                message_row(message),
            )
            title = title_from(content) if role == "user" else None
            db.execute(
                "UPDATE conversations SET updated_at = ?, leaf_id = ?, "
                "title = CASE WHEN title = '' AND ? IS NOT NULL THEN ? ELSE title END "
                "WHERE id = ?",
                (now, message.id, title, title, conversation_id),
            )
        return message

    def update_message(
        self,
        message_id: str,
        *,
        content: str | None = None,
        reasoning: str | None = None,
        status: MessageStatus | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        """Change a saved message (a growing reply, its final status and stats)."""
        fields: list[str] = []
        values: list[Any] = []
        for name, value in (("content", content), ("reasoning", reasoning), ("status", status)):
            if value is not None:
                fields.append(f"{name} = ?")
                values.append(value)
        if stats is not None:
            fields.append("stats = ?")
            values.append(json.dumps(stats))
        now = time.time()
        with self.transaction() as db:
            changed = db.execute(
                f"UPDATE messages SET {', '.join([*fields, 'updated_at = ?'])} WHERE id = ?",
                (*values, now, message_id),
            ).rowcount
            if not changed:
                raise NotFoundError(f"No message {message_id}.")
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = "
                "(SELECT conversation_id FROM messages WHERE id = ?)",
                (now, message_id),
            )

    def delete_message(self, message_id: str) -> None:
        """Delete a message and every message that follows from it.

        When the current branch went through it, the branch now ends at its parent.
        """
        with self.transaction() as db:
            row = db.execute(
                "SELECT conversation_id, parent_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            db.execute(
                "UPDATE conversations SET leaf_id = ? WHERE id = ? AND leaf_id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = conversations.leaf_id)",
                (row[1], row[0]),
            )

    def mark_interrupted(self) -> int:
        """Mark replies left `streaming` by a process that died as `interrupted`.

        A streaming reply names its writer (`stats.writer`: pid and start time); a reply
        whose writer still runs is another r1chat's live reply and is left alone.
        """
        with self.transaction() as db:
            rows = db.execute("SELECT id, stats FROM messages WHERE status = 'streaming'")
            gone = [row[0] for row in rows.fetchall() if not writer_alive(row[1])]
            for message_id in gone:
                db.execute(
                    "UPDATE messages SET status = 'interrupted', stats = NULL WHERE id = ?",
                    (message_id,),
                )
            return len(gone)


def unique_length(ids: list[str], index: int) -> int:
    """How much of `ids[index]` tells it from its neighbours in the sorted `ids`."""
    mine = ids[index]
    neighbours = [ids[i] for i in (index - 1, index + 1) if 0 <= i < len(ids)]
    shared = max((shared_prefix(mine, other) for other in neighbours), default=0)
    return min(len(mine), shared + 1)


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        model=row["model"],
        params=json.loads(row["params"] or "{}"),
        message_count=row["n"],
        leaf_id=row["leaf_id"],
    )


def writer_tag() -> dict[str, Any]:
    """Who writes a streaming reply: this process, by pid and start time."""
    pid = os.getpid()
    return {"pid": pid, "started": _own_start(pid)}


@functools.cache
def _own_start(pid: int) -> int | None:
    """This process's start time, read once (a reply's every flush names it)."""
    return _process_started(pid)


def writer_alive(stats: str | None) -> bool:
    """Whether the process named in a streaming reply's stats still runs."""
    try:
        writer = json.loads(stats or "{}").get("writer") or {}
        pid = int(writer["pid"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but another user's
        return True
    if _process_state(pid) in ("Z", "X"):  # killed, not yet reaped by its parent: gone
        return False
    started = _process_started(pid)
    return started is None or writer.get("started") in (None, started)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _process_state(pid: int) -> str | None:
    """The state letter of process `pid` (`R`, `S`, `Z` for a zombie…), on Linux."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _process_started(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux), to tell reused pids."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, reasoning, status, parent_id, model, stats, "
    "created_at, updated_at"
)
"""The columns `_message_from` reads, in the order of `Message`'s fields."""
PARENT = 6


def _status(status: str, stats: str | None) -> Any:
    """A saved reply's status as it is now: one still `streaming` whose writer is gone (killed
    mid-reply) reads as `interrupted`, whoever reads it (the row waits for the next writer)."""
    if status == "streaming" and not writer_alive(stats):
        return "interrupted"
    return status


def _message_from(row: tuple[Any, ...]) -> Message:
    """A message from a `MESSAGE_COLUMNS` tuple."""
    stats = row[8]
    return Message(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        _status(row[5], stats),
        row[6],
        row[7],
        json.loads(stats) if stats else None,
        row[9],
        row[10],
    )


def _message(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        content=row["content"],
        reasoning=row["reasoning"],
        status=_status(row["status"], row["stats"]),
        parent_id=row["parent_id"],
        model=row["model"],
        stats=json.loads(row["stats"]) if row["stats"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def message_row(message: Message) -> tuple[Any, ...]:
    return (
        message.id,
        message.conversation_id,
        message.parent_id,
        message.role,
        message.content,
        message.reasoning,
        message.status,
        message.model,
        json.dumps(message.stats) if message.stats is not None else None,
        message.created_at,
        message.updated_at,
    )
