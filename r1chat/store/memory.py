"""Provides `Memory`: facts about the user, kept locally, that go into every chat's prompt."""

from __future__ import annotations

import time
from dataclasses import dataclass

from r1chat.errors import R1ChatError
from r1chat.store.chats import ChatStore

FACT_CHARS = 2000
"""The longest a fact may be: memory is for short things, not documents."""


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing to remember; switched off, it stays but is not sent."""

    id: int
    text: str
    enabled: bool = True
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (for `memory list --json` and exports)."""
        return {
            "id": self.id,
            "text": self.text,
            "enabled": self.enabled,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def checked_fact(text: str) -> str:
    """The fact as saved: trimmed, one paragraph at most 2,000 characters."""
    if not isinstance(text, str):
        raise R1ChatError("A memory fact must be text.")
    text = " ".join(text.split())
    if not text:
        raise R1ChatError("A memory fact cannot be empty; write what to remember.")
    if len(text) > FACT_CHARS:
        raise R1ChatError(
            f"A memory fact is at most {FACT_CHARS:,} characters (this one has {len(text):,}); "
            "keep it short."
        )
    return text


class Memory:
    """The memory table of a chat store."""

    def __init__(self, store: ChatStore) -> None:
        self.store = store

    def facts(self, *, enabled_only: bool = False) -> list[Fact]:
        """Every fact, oldest first (only the switched-on ones with `enabled_only`)."""
        where = " WHERE enabled = 1" if enabled_only else ""
        rows = self.store.read(
            f"SELECT id, text, enabled, created_at, updated_at FROM memory{where} ORDER BY id"
        )
        return [Fact(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    def texts(self) -> list[str]:
        """The switched-on facts' texts, oldest first: what goes into a prompt."""
        return [fact.text for fact in self.facts(enabled_only=True)]

    def add(self, text: str) -> Fact:
        """Remember `text`; the same text twice is kept once."""
        text = checked_fact(text)
        now = time.time()
        with self.store.transaction() as db:
            found = db.execute("SELECT id FROM memory WHERE text = ?", (text,)).fetchone()
            if found is not None:
                db.execute(
                    "UPDATE memory SET enabled = 1, updated_at = ? WHERE id = ?", (now, found[0])
                )
                fact_id = int(found[0])
            else:
                cursor = db.execute(
                    "INSERT INTO memory (text, enabled, created_at, updated_at) "
                    "VALUES (?, 1, ?, ?)",
                    (text, now, now),
                )
                fact_id = int(cursor.lastrowid or 0)
        return self.get(fact_id)

    def get(self, fact_id: int) -> Fact:
        """The fact with this number."""
        rows = self.store.read(
            "SELECT id, text, enabled, created_at, updated_at FROM memory WHERE id = ?", (fact_id,)
        )
        if not rows:
            raise R1ChatError(
                f"There is no memory fact {fact_id}; `r1chat memory list` shows them."
            )
        r = rows[0]
        return Fact(r[0], r[1], bool(r[2]), r[3], r[4])

    def edit(self, fact_id: int, text: str) -> Fact:
        """Change a fact's text."""
        text = checked_fact(text)
        self._update(fact_id, "text = ?", (text,))
        return self.get(fact_id)

    def set_enabled(self, fact_id: int, enabled: bool) -> Fact:
        """Switch a fact on or off (off: kept, not sent)."""
        self._update(fact_id, "enabled = ?", (1 if enabled else 0,))
        return self.get(fact_id)

    def remove(self, fact_id: int) -> None:
        """Forget a fact."""
        self.get(fact_id)
        with self.store.transaction() as db:
            db.execute("DELETE FROM memory WHERE id = ?", (fact_id,))

    def clear(self) -> int:
        """Forget every fact; returns how many there were."""
        with self.store.transaction() as db:
            return int(db.execute("DELETE FROM memory").rowcount)

    def import_facts(self, facts: list[object]) -> int:
        """Add facts from an export (texts already remembered are skipped); returns how many."""
        known = {fact.text for fact in self.facts()}
        added = 0
        for item in facts:
            if not isinstance(item, dict):
                continue
            try:
                text = checked_fact(item.get("text"))  # type: ignore[arg-type]
            except R1ChatError:
                continue
            if text in known:
                continue
            fact = self.add(text)
            if item.get("enabled") is False:
                self.set_enabled(fact.id, False)
            known.add(text)
            added += 1
        return added

    def _update(self, fact_id: int, assignment: str, args: tuple[object, ...]) -> None:
        self.get(fact_id)
        with self.store.transaction() as db:
            db.execute(
                f"UPDATE memory SET {assignment}, updated_at = ? WHERE id = ?",
                (*args, time.time(), fact_id),
            )


def memory_prompt(facts: list[str]) -> str:
    """The facts as the model reads them, ahead of the chat's own instructions."""
    if not facts:
        return ""
    lines = "\n".join(f"- {fact}" for fact in facts)
    return f"What you know about the user (from earlier chats):\n{lines}"
