"""Provides usage over time: tokens read and written, time spent thinking and answering, and
speed, from the `usage` table (one row a reply, kept by triggers as replies are saved)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Literal

from r1chat.store.chats import ChatStore

Grouping = Literal["day", "week"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Totals over some replies."""

    replies: int = 0
    read: int = 0
    """Prompt tokens read (the whole prompt of every reply)."""
    reasoning: int = 0
    answer: int = 0
    thinking_seconds: float = 0.0
    answering_seconds: float = 0.0
    timed_tokens: int = 0
    """Generated tokens of the replies that were timed (for an average speed)."""

    @property
    def written(self) -> int:
        """Generated tokens: reasoning and answer."""
        return self.reasoning + self.answer

    @property
    def tokens_per_second(self) -> float | None:
        """Generated tokens over generating time (every timed reply weighed by its length)."""
        seconds = self.thinking_seconds + self.answering_seconds
        return self.timed_tokens / seconds if seconds > 0 and self.timed_tokens else None

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.replies + other.replies,
            self.read + other.read,
            self.reasoning + other.reasoning,
            self.answer + other.answer,
            self.thinking_seconds + other.thinking_seconds,
            self.answering_seconds + other.answering_seconds,
            self.timed_tokens + other.timed_tokens,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "replies": self.replies,
            "tokens_read": self.read,
            "reasoning_tokens": self.reasoning,
            "answer_tokens": self.answer,
            "tokens_written": self.written,
            "thinking_seconds": round(self.thinking_seconds, 3),
            "answering_seconds": round(self.answering_seconds, 3),
            "tokens_per_second": (
                round(self.tokens_per_second, 2) if self.tokens_per_second else None
            ),
        }


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """One model's totals, with its median speed and time to the first token."""

    model: str
    usage: Usage
    median_tokens_per_second: float | None
    median_first_token_seconds: float | None


@dataclass(frozen=True, slots=True)
class PeriodUsage:
    """One day (or week) of one model."""

    period: str
    """`2026-11-29`, or the week's Monday for weeks."""
    model: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Everything `stats` and the stats screen show."""

    models: list[ModelUsage]
    periods: list[PeriodUsage]
    by: Grouping = "day"
    """What a period is: a day, or a week from Monday."""

    @property
    def total(self) -> Usage:
        """All models together."""
        total = Usage()
        for model in self.models:
            total += model.usage
        return total


_SUMS = (
    "COUNT(*), TOTAL(prompt_tokens), TOTAL(reasoning_tokens), TOTAL(answer_tokens), "
    "TOTAL(reasoning_seconds), TOTAL(generation_seconds) - TOTAL(reasoning_seconds), "
    "TOTAL(CASE WHEN generation_seconds > 0 THEN reasoning_tokens + answer_tokens END)"
)


def _usage(row: tuple[Any, ...]) -> Usage:
    return Usage(
        int(row[0]),
        int(row[1]),
        int(row[2]),
        int(row[3]),
        float(row[4]),
        max(0.0, float(row[5])),
        int(row[6]),
    )


def _where(since: float | None, until: float | None, model: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    values: list[Any] = []
    if since is not None:
        clauses.append("created_at >= ?")
        values.append(since)
    if until is not None:
        clauses.append("created_at < ?")
        values.append(until)
    if model is not None:
        clauses.append("model = ?")
        values.append(model)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def _median(
    store: ChatStore, column: str, model: str, since: float | None, until: float | None
) -> float | None:
    """The median of `column` for `model`, walked in the (model, column) index's order."""
    where, values = _where(since, until, model)
    where += f" AND {column} IS NOT NULL AND {column} > 0"
    db = store.connection
    count = int(db.execute(f"SELECT COUNT(*) FROM usage{where}", values).fetchone()[0])
    if not count:
        return None
    query = f"SELECT {column} FROM usage{where} ORDER BY {column} LIMIT ? OFFSET ?"
    middle = [float(v) for (v,) in db.execute(query, [*values, 2 - count % 2, (count - 1) // 2])]
    return sum(middle) / len(middle)


DAYS_AS_BARS = 31
"""Spans up to this many days are grouped by day; longer ones by week."""


def natural_grouping(
    store: ChatStore, since: float | None = None, model: str | None = None
) -> Grouping:
    """Days for a month of replies or less, weeks past that."""
    where, values = _where(since, None, model)
    first, last = store.connection.execute(
        f"SELECT MIN(created_at), MAX(created_at) FROM usage{where}", values
    ).fetchone()
    if first is None or last - first <= DAYS_AS_BARS * 86400:
        return "day"
    return "week"


def usage_report(
    store: ChatStore,
    *,
    since: float | None = None,
    until: float | None = None,
    model: str | None = None,
    by: Grouping = "day",
) -> UsageReport:
    """Usage per model and per day (or week, from Monday), in this machine's time zone."""
    where, values = _where(since, until, model)
    db = store.connection
    models = []
    for row in db.execute(
        f"SELECT model, {_SUMS} FROM usage{where} GROUP BY model ORDER BY model", values
    ).fetchall():
        name = str(row[0])
        models.append(
            ModelUsage(
                name,
                _usage(row[1:]),
                _median(store, "tokens_per_second", name, since, until),
                _median(store, "time_to_first_token", name, since, until),
            )
        )
    days = db.execute(
        f"SELECT date(created_at, 'unixepoch', 'localtime') AS day, model, {_SUMS} "
        f"FROM usage{where} GROUP BY day, model ORDER BY day, model",
        values,
    ).fetchall()
    grouped: dict[tuple[str, str], Usage] = {}
    for row in days:
        period = str(row[0])
        if by == "week":
            day = datetime.date.fromisoformat(period)
            period = (day - datetime.timedelta(days=day.weekday())).isoformat()
        key = (period, str(row[1]))
        grouped[key] = grouped.get(key, Usage()) + _usage(row[2:])
    periods = [PeriodUsage(period, name, usage) for (period, name), usage in grouped.items()]
    return UsageReport(models, periods, by)


def conversation_usage(store: ChatStore, conversation_id: str) -> Usage:
    """One chat's totals (every reply of every branch it keeps)."""
    row = store.connection.execute(
        f"SELECT {_SUMS} FROM usage WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    return _usage(row)
