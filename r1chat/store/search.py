"""Provides full-text search over saved chats (SQLite FTS5, ranked by BM25, with snippets)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from r1chat.domain import Role
from r1chat.errors import R1ChatError
from r1chat.store.chats import ChatStore

RANK_WINDOW = 20_000
"""Searches matching more messages than this rank the newest this many (bounded time)."""
HIT_START, HIT_END = "\ue000", "\ue001"  # private-use characters, not expected in chats


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: where it is and a snippet around the match."""

    conversation_id: str
    conversation_title: str
    message_id: str | None
    """`None` when the title matched."""
    role: Role | None
    field: str
    """`answer`, `reasoning`, `message` (a user's) or `title`."""
    snippet: str
    """Text around the match; matched words sit between `HIT_START` and `HIT_END`."""
    rank: float
    updated_at: float

    @property
    def plain_snippet(self) -> str:
        """The snippet without match markers."""
        return self.snippet.replace(HIT_START, "").replace(HIT_END, "")

    def parts(self) -> list[tuple[str, bool]]:
        """The snippet (whitespace collapsed) as pieces, each saying whether it matched."""
        pieces: list[tuple[str, bool]] = []
        for index, piece in enumerate(" ".join(self.snippet.split()).split(HIT_START)):
            matched, _, rest = piece.partition(HIT_END) if index else ("", "", piece)
            if matched:
                pieces.append((matched, True))
            if rest:
                pieces.append((rest, False))
        return pieces


LONG = 100_000
"""Characters past which SQLite's own snippet is not asked for: its work grows faster than
the text (a word repeated through megabytes took minutes); r1chat cuts one around the
first place the first word appears instead (one linear scan)."""


def _own_snippet(head: str | None, terms: list[str]) -> str:
    """A snippet around the first of `terms` in `head` (a stretch of a very long text),
    marked like SQLite's, or the stretch itself when none is found there."""
    if not head:
        return ""
    lowered = head.lower()
    found = [(lowered.find(term), term) for term in terms if term and lowered.find(term) >= 0]
    if not found:
        return head[:160] + "…"
    at, term = min(found)
    start, end = max(0, at - 60), at + len(term)
    before = ("…" if start else "") + head[start:at]
    return f"{before}{HIT_START}{head[at:end]}{HIT_END}{head[end : end + 60]}…"


def search(
    store: ChatStore, query: str, *, thinking: bool = False, limit: int = 20, prefix: bool = False
) -> list[SearchHit]:
    """Full-text search over answers and titles (and reasoning with `thinking`), best first.

    `query` is taken as plain words (all must appear, in any order); quote
    a phrase with double quotes. Results are ranked by BM25; when more than
    `RANK_WINDOW` messages match, among the newest `RANK_WINDOW` of them.
    """
    match = fts_query(query, prefix)
    if match is None:
        raise R1ChatError("The search is empty; give some words to look for.")
    columns = "{content reasoning}" if thinking else "{content}"
    expression = f"{columns} : ({match})"
    terms = [word.lower() for word in re.findall(r"\w+", query)]
    first = terms[0] if terms else ""
    """Where a very long text's snippet is cut from: around the first word looked for."""
    details = """
        SELECT m.conversation_id, c.title, m.id AS message_id, m.role,
               CASE WHEN length(m.content) <= {long} THEN
                 snippet(messages_fts, 0, '\ue000', '\ue001', '…', 16) END AS answer_snippet,
               CASE WHEN length(m.reasoning) <= {long} THEN
                 snippet(messages_fts, 1, '\ue000', '\ue001', '…', 16) END AS reasoning_snippet,
               CASE WHEN length(m.content) > {long} THEN
                 substr(m.content, max(1, instr(lower(m.content), ?) - 80), 400) END
                 AS answer_head,
               CASE WHEN length(m.reasoning) > {long} THEN
                 substr(m.reasoning, max(1, instr(lower(m.reasoning), ?) - 80), 400) END
                 AS reasoning_head,
               {} AS score, c.updated_at
        FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
        JOIN conversations c ON c.id = m.conversation_id
        WHERE messages_fts MATCH ? {}
        """
    matches = store.read(
        "SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH ?", (expression,)
    )[0]["n"]
    if matches <= RANK_WINDOW:
        rows = store.read(
            details.format("messages_fts.rank", "ORDER BY messages_fts.rank LIMIT ?", long=LONG),
            (first, first, expression, limit),
        )
    else:
        # Ranking every match costs about a microsecond each; for a word in hundreds of
        # thousands of messages, rank the newest RANK_WINDOW matches instead.
        newest = store.read(
            "SELECT rowid AS r, bm25(messages_fts) AS score FROM messages_fts "
            "WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
            (expression, RANK_WINDOW),
        )
        best = sorted(newest, key=lambda row: row["score"])[:limit]
        # The score is known: asking for it again would redo BM25's statistics per row.
        one = details.format("?", "AND messages_fts.rowid = ?", long=LONG)
        rows = [
            found
            for row in best
            for found in store.read(one, (first, first, row["score"], expression, row["r"]))
        ]
    hits = []
    for row in rows:
        answer = row["answer_snippet"] or _own_snippet(row["answer_head"], terms)
        reasoning = row["reasoning_snippet"] or _own_snippet(row["reasoning_head"], terms)
        in_answer = HIT_START in answer or HIT_START not in reasoning
        hits.append(
            SearchHit(
                row["conversation_id"],
                row["title"],
                row["message_id"],
                row["role"],
                ("answer" if row["role"] == "assistant" else "message")
                if in_answer
                else "reasoning",
                answer if in_answer else reasoning,
                row["score"],
                row["updated_at"],
            )
        )
    title_rows = store.read(
        """
        SELECT c.id, c.title, snippet(conversations_fts, 0, '\ue000', '\ue001', '…', 16) AS hit,
               conversations_fts.rank AS score, c.updated_at
        FROM conversations_fts JOIN conversations c ON c.rowid = conversations_fts.rowid
        WHERE conversations_fts MATCH ? ORDER BY conversations_fts.rank LIMIT ?
        """,
        (match, limit),
    )
    hits += [
        SearchHit(
            row["id"],
            row["title"],
            None,
            None,
            "title",
            row["hit"],
            row["score"],
            row["updated_at"],
        )
        for row in title_rows
    ]
    hits.sort(key=lambda hit: hit.rank)
    return hits[:limit]


def fts_query(text: str, prefix: bool = False) -> str | None:
    """Plain words (and "quoted phrases") as an FTS5 query where every term must match.

    Each term is quoted, so FTS5 operators and punctuation in the user's text are
    searched for as words, never interpreted. With `prefix` (search as you type), a
    last word still being typed also matches longer words (`narwh` finds `narwhal`).
    """
    terms: list[str] = []
    for index, part in enumerate(text.split('"')):
        if index % 2:  # inside quotes: one phrase
            if part.strip():
                terms.append('"' + part.strip().replace('"', "") + '"')
        else:
            terms += ['"' + word + '"' for word in part.split() if word.strip("\"'*^:()")]
    typing = text.count('"') % 2 == 0 and text[-1:].strip() and not text.endswith('"')
    if prefix and terms and typing:
        terms[-1] += " *"
    return " AND ".join(terms) if terms else None
