"""Provides export and import of conversations: JSON that round-trips exactly, and Markdown."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from r1chat.domain import (
    MESSAGE_STATUSES,
    NO_ANSWER_NOTE,
    Conversation,
    Message,
    is_remote_record,
)
from r1chat.errors import R1ChatError
from r1chat.store.chats import ChatStore, message_row
from r1chat.store.database import translate_errors
from r1chat.store.ids import is_id
from r1chat.text import terminal_safe, without_credentials

FORMAT_ONE = "r1chat-conversation"
FORMAT_MANY = "r1chat-export"
FORMAT_VERSION = 1
_C1 = re.compile("[\x80-\x9f\u2028\u2029]")


def conversation_document(store: ChatStore, conversation_id: str) -> dict[str, Any]:
    """A conversation with every message of every branch, as plain JSON data."""
    conversation = store.conversation(conversation_id, messages=False)
    messages = store.all_messages(conversation_id)
    data = asdict(conversation)  # without its messages: quick
    data.pop("message_count")
    data["messages"] = [message_data(message) for message in messages]
    return data


_MESSAGE_FIELDS = tuple(field.name for field in fields(Message))


def message_data(message: Message) -> dict[str, Any]:
    """A message as plain JSON data (the fields as they are: `asdict` deep-copies each one,
    which takes most of the time of a 200,000-message export)."""
    return {name: getattr(message, name) for name in _MESSAGE_FIELDS}


def readable_json(
    payload: dict[str, Any], documents: list[dict[str, Any]], *, ascii_only: bool = False
) -> str:
    """`payload` as indented JSON, except each of `documents`' `messages` lists, written one
    compact message a line: JSON's fast encoder does the bulk (indenting every field goes
    through the slow one, about ten times slower), and the file still reads and diffs well.
    Non-ASCII text stays as it is unless `ascii_only`."""
    token = secrets.token_hex(16)
    held: list[list[Any]] = []
    for document in documents:
        held.append(document["messages"])
        document["messages"] = f"{token}-{len(held) - 1}"
    try:
        text = json.dumps(payload, ensure_ascii=ascii_only, indent=2)
    finally:
        for index, document in enumerate(documents):
            document["messages"] = held[index]
    for index, messages in enumerate(held):
        marker = f'"{token}-{index}"'
        at = text.index(marker)
        indent = " " * (at - text.rindex("\n", 0, at) - 1 - len('"messages": ') + 2)
        if not messages:
            text = text.replace(marker, "[]", 1)
            continue
        rows = ",\n".join(indent + json.dumps(m, ensure_ascii=ascii_only) for m in messages)
        text = text.replace(marker, f"[\n{rows}\n{indent[:-2]}]", 1)
    return text


def export_json(store: ChatStore, conversation_ids: list[str], *, many: bool) -> str:
    """JSON for one conversation or many; control characters are escaped, never raw."""
    documents = [conversation_document(store, cid) for cid in conversation_ids]
    if many:
        from r1chat.store.memory import Memory

        payload: dict[str, Any] = {
            "format": FORMAT_MANY,
            "version": FORMAT_VERSION,
            "conversations": documents,
            "memory": [fact.to_dict() for fact in Memory(store).facts()],
        }
    else:
        payload = {"format": FORMAT_ONE, "version": FORMAT_VERSION, "conversation": documents[0]}
    text = readable_json(payload, documents)
    # json escapes C0 controls already; escape C1 (and line separators) too, so the
    # file is safe to print and still decodes to the same text.
    return _C1.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text) + "\n"


def export_markdown(conversation: Conversation, *, thinking: bool = False) -> str:
    """A readable Markdown transcript of the current branch (control bytes removed)."""
    when = datetime.fromtimestamp(conversation.updated_at).strftime("%Y-%m-%d %H:%M")
    lines = [f"# {terminal_safe(conversation.title or 'New chat')}", ""]
    lines += [f"*{terminal_safe(conversation.model_shown or 'unknown model')} · {when}*", ""]
    for message in conversation.messages:
        lines += [f"## {'You' if message.role == 'user' else message.role.title()}", ""]
        if thinking and message.reasoning:
            lines += ["<details><summary>Thinking</summary>", ""]
            lines += [terminal_safe(message.reasoning), "", "</details>", ""]
        lines += [terminal_safe(message.content), ""]
        if message.no_answer:
            lines += [f"*({NO_ANSWER_NOTE})*", ""]
        if message.status not in ("complete",):
            lines += [f"*({message.status})*", ""]
    return "\n".join(lines).rstrip() + "\n"


IMPORT_BATCH = 10_000
"""Messages written per step of an import (each step reports progress)."""


def import_json(
    store: ChatStore,
    text: str,
    source: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Add the conversations in an r1chat JSON export.

    Returns the imported ids, the ids skipped because they are already saved (never
    overwritten), and one sentence for each conversation refused as invalid; the valid
    ones are imported all the same. A file with no valid conversation is refused whole.
    `progress(done, total)` hears about the messages as they are written (all in one
    transaction: an import that fails leaves nothing behind).
    """
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise R1ChatError(f"{source} is not JSON ({error.msg} at line {error.lineno}).") from error
    except RecursionError as error:  # nested thousands deep: no export looks like that
        raise R1ChatError(
            f"{source} nests its JSON too deep to be an r1chat export; nothing was imported."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT_ONE, FORMAT_MANY):
        raise R1ChatError(f"{source} is not an r1chat export (no r1chat format field).")
    if payload.get("version") != FORMAT_VERSION:
        raise R1ChatError(
            f"{source} is export version {payload.get('version')!r}; this r1chat reads version "
            f"{FORMAT_VERSION}."
        )
    documents = (
        payload.get("conversations")
        if payload["format"] == FORMAT_MANY
        else [payload.get("conversation")]
    )
    if not isinstance(documents, list):
        raise R1ChatError(f"{source} has no conversations list.")
    parsed: list[tuple[Conversation, list[Message]]] = []
    refused: list[str] = []
    for document in documents:
        try:
            parsed.append(_parse(document, source))
        except R1ChatError as error:
            refused.append(str(error))
    if refused and not parsed:
        raise R1ChatError(refused[0])
    imported: list[str] = []
    skipped: list[str] = []
    total, written = sum(len(messages) for _, messages in parsed), 0
    with store.transaction() as db:
        for conversation, messages in parsed:
            if db.execute(
                "SELECT 1 FROM conversations WHERE id = ?", (conversation.id,)
            ).fetchone():
                skipped.append(conversation.id)
                continue
            db.execute(
                "INSERT INTO conversations "
                "(id, title, created_at, updated_at, model, params, leaf_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation.id,
                    conversation.title,
                    conversation.created_at,
                    conversation.updated_at,
                    conversation.model,
                    json.dumps(conversation.params),
                    conversation.leaf_id,
                ),
            )
            with translate_errors(store.path):
                try:
                    for at in range(0, len(messages), IMPORT_BATCH):
                        db.executemany(
                            "INSERT INTO messages (id, conversation_id, parent_id, role, "
                            "content, reasoning, status, model, stats, created_at, updated_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [message_row(m) for m in messages[at : at + IMPORT_BATCH]],
                        )
                        written += min(IMPORT_BATCH, len(messages) - at)
                        if progress is not None:
                            progress(written, total)
                except sqlite3.IntegrityError as error:
                    raise R1ChatError(
                        f"{source}: conversation {conversation.id} has messages that clash with "
                        f"saved ones or point to missing parents ({error}); nothing was imported."
                    ) from error
            imported.append(conversation.id)
    return imported, skipped, refused


def _local_params(params: Any) -> dict[str, Any]:
    """An imported chat's settings, minus any server it names: a shared file must never send
    the user's messages and memory somewhere by itself. The server stays as a label
    (`imported_from`, without any user name or password); the user's own choice runs it."""
    kept = dict(params)
    recorded = str(kept.get("model_path") or "")
    if is_remote_record(recorded) or "://" in recorded:  # any scheme: never a local file
        kept.pop("model_path", None)
        kept.pop("n_ctx", None)
        kept["imported_from"] = without_credentials(recorded)[:200]
    return kept


def _parse(document: Any, source: str) -> tuple[Conversation, list[Message]]:
    def bad(why: str) -> R1ChatError:
        return R1ChatError(f"{source} is not a valid r1chat export: {why}.")

    if not isinstance(document, dict):
        raise bad("a conversation is not an object")
    try:
        conversation = Conversation(
            id=str(document["id"]),
            title=str(document.get("title", "")),
            created_at=float(document["created_at"]),
            updated_at=float(document["updated_at"]),
            model=document.get("model"),
            params=_local_params(document.get("params") or {}),
            leaf_id=str(document["leaf_id"]) if document.get("leaf_id") else None,
        )
        messages = []
        for item in document.get("messages", []):
            for field in ("content", "reasoning"):
                if not isinstance(item.get(field, ""), str):
                    raise bad(f"message {item.get('id')!r} has a {field} that is not text")
            for field in ("created_at", "updated_at"):
                if not _sane_time(item.get(field)):
                    raise bad(f"message {item.get('id')!r} has an impossible {field}")
            message = Message(
                id=str(item["id"]),
                conversation_id=conversation.id,
                role=item["role"],
                content=str(item.get("content", "")),
                reasoning=str(item.get("reasoning", "")),
                status=item.get("status", "complete"),
                parent_id=item.get("parent_id"),
                model=item.get("model"),
                stats=item.get("stats"),
                created_at=float(item["created_at"]),
                updated_at=float(item["updated_at"]),
            )
            if message.role not in ("system", "user", "assistant"):
                raise bad(f"message {message.id} has role {message.role!r}")
            if message.status not in MESSAGE_STATUSES:
                raise bad(f"message {message.id} has status {message.status!r}")
            messages.append(message)
    except (KeyError, TypeError, ValueError) as error:
        raise bad(f"missing or wrong field {error}") from error
    if not (_sane_time(conversation.created_at) and _sane_time(conversation.updated_at)):
        raise bad(f"conversation {conversation.id} has an impossible date")
    ids = [conversation.id, conversation.leaf_id, *(m.id for m in messages)]
    ids += [m.parent_id for m in messages]
    stray = next((i for i in ids if i is not None and not is_id(i)), None)
    if stray is not None:
        raise bad(f"{str(stray)[:40]!r} is not an r1chat id")
    for message in messages:
        stats = message.stats
        if stats is not None and not isinstance(stats, dict):
            raise bad(f"message {message.id} has stats that are not an object")
        if stats and not all(
            isinstance(key, str) and isinstance(value, str | int | float | bool | None)
            for key, value in stats.items()
        ):
            raise bad(f"message {message.id} has stats that are not plain numbers and words")
    problem = _link_problem(messages)
    if problem:
        raise bad(f"conversation {conversation.id}: {problem}")
    return conversation, messages


def _sane_time(value: Any) -> bool:
    """A Unix time r1chat can show: a finite number between 1970 and the year 3000."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value < 32_503_680_000
    )


def _link_problem(messages: list[Message]) -> str | None:
    """Why the messages do not form a tree (repeated ids, missing parents, a loop), if so."""
    parents: dict[str, str | None] = {}
    for message in messages:
        if message.id in parents:
            return f"message id {message.id} appears twice"
        parents[message.id] = message.parent_id
    for message_id, parent in parents.items():
        if parent is not None and parent not in parents:
            return f"message {message_id} answers {parent}, which is not in the conversation"
    # Each message is walked up once: a walk stops at a message already known to reach a
    # root (linear work, where walking every chain from every message was quadratic).
    rooted: set[str] = set()
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = start
        while current is not None and current not in rooted:
            if current in on_path:
                return f"message {start}'s parents go round in a loop"
            on_path.add(current)
            path.append(current)
            current = parents[current]
        rooted.update(path)
    return None
