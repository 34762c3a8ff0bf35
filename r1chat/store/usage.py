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
    median_tokens_per_second: float | None = None
    """The median reply's speed that period: the same measure `stats` gives a model."""


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


QUARTER = 900
"""Seconds in a `usage_quarters` row: every time zone's days start on a quarter hour."""

_SUMS = (
    "SUM(replies), SUM(prompt_tokens), SUM(reasoning_tokens), SUM(answer_tokens), "
    "TOTAL(reasoning_seconds), TOTAL(generation_seconds) - TOTAL(reasoning_seconds), "
    "SUM(timed_tokens)"
)
_REPLY_SUMS = (
    "COUNT(*), TOTAL(prompt_tokens), TOTAL(reasoning_tokens), TOTAL(answer_tokens), "
    "TOTAL(reasoning_seconds), TOTAL(generation_seconds) - TOTAL(reasoning_seconds), "
    "TOTAL(CASE WHEN generation_seconds > 0 THEN reasoning_tokens + answer_tokens END)"
)


def _usage(row: tuple[Any, ...]) -> Usage:
    return Usage(
        int(row[0] or 0),
        int(row[1] or 0),
        int(row[2] or 0),
        int(row[3] or 0),
        float(row[4] or 0.0),
        max(0.0, float(row[5] or 0.0)),
        int(row[6] or 0),
    )


def _quarter(moment: float | None) -> int | None:
    return None if moment is None else int(moment // QUARTER)


def _where(since: int | None, until: int | None, model: str | None) -> tuple[str, list[Any]]:
    """A filter on `usage_quarters` (quarters from `since` up to `until`, one model)."""
    clauses: list[str] = []
    values: list[Any] = []
    if since is not None:
        clauses.append("quarter >= ?")
        values.append(since)
    if until is not None:
        clauses.append("quarter < ?")
        values.append(until)
    if model is not None:
        clauses.append("model = ?")
        values.append(model)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def _median(
    store: ChatStore,
    column: str,
    model: str,
    count: int,
    since: int | None,
    until: int | None,
) -> float | None:
    """The median of `column` over `count` replies of `model`, walked in the
    (model, column, time) index's order."""
    if not count:
        return None
    clauses = ["model = ?", f"{column} > 0"]
    values: list[Any] = [model]
    if since is not None:
        clauses.append("created_at >= ?")
        values.append(since * QUARTER)
    if until is not None:
        clauses.append("created_at < ?")
        values.append(until * QUARTER)
    query = (
        f"SELECT {column} FROM usage WHERE {' AND '.join(clauses)} "
        f"ORDER BY {column} LIMIT ? OFFSET ?"
    )
    rows = store.connection.execute(query, [*values, 2 - count % 2, (count - 1) // 2])
    middle = [float(value) for (value,) in rows]
    return sum(middle) / len(middle) if middle else None


DAYS_AS_BARS = 31
"""Spans up to this many days are grouped by day; longer ones by week."""


def natural_grouping(
    store: ChatStore, since: float | None = None, model: str | None = None
) -> Grouping:
    """Days for a month of replies or less, weeks past that."""
    where, values = _where(_quarter(since), None, model)
    first, last = store.connection.execute(
        f"SELECT MIN(quarter), MAX(quarter) FROM usage_quarters{where}", values
    ).fetchone()
    if first is None or (last - first) * QUARTER <= DAYS_AS_BARS * 86400:
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
    """Usage per model and per day (or week, from Monday), in this machine's time zone.
    `since` and `until` count from the quarter hour they fall in."""
    start, end = _quarter(since), _quarter(until)
    where, values = _where(start, end, model)
    db = store.connection
    models = []
    for row in db.execute(
        f"SELECT model, {_SUMS}, SUM(timed_replies), SUM(first_token_replies) "
        f"FROM usage_quarters{where} GROUP BY model HAVING SUM(replies) > 0 ORDER BY model",
        values,
    ).fetchall():
        name = str(row[0])
        models.append(
            ModelUsage(
                name,
                _usage(row[1:8]),
                _median(store, "tokens_per_second", name, int(row[8] or 0), start, end),
                _median(store, "time_to_first_token", name, int(row[9] or 0), start, end),
            )
        )
    days = db.execute(
        f"SELECT date(quarter * {QUARTER}, 'unixepoch', 'localtime') AS day, model, {_SUMS} "
        f"FROM usage_quarters{where} GROUP BY day, model HAVING SUM(replies) > 0 "
        "ORDER BY day, model",
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
    periods = [
        PeriodUsage(period, name, usage, _period_median(store, name, period, by, start, end))
        for (period, name), usage in grouped.items()
    ]
    return UsageReport(models, periods, by)


def _period_median(
    store: ChatStore, model: str, period: str, by: Grouping, since: int | None, until: int | None
) -> float | None:
    """The median speed of `model`'s replies in one day (or week) of local time."""
    day = datetime.date.fromisoformat(period)
    after = day + datetime.timedelta(days=7 if by == "week" else 1)
    start = datetime.datetime.combine(day, datetime.time()).timestamp()
    end = datetime.datetime.combine(after, datetime.time()).timestamp()
    if since is not None:
        start = max(start, since * QUARTER)
    if until is not None:
        end = min(end, until * QUARTER)
    speeds = [
        float(value)
        for (value,) in store.connection.execute(
            "SELECT tokens_per_second FROM usage WHERE model = ? AND tokens_per_second > 0 "
            "AND created_at >= ? AND created_at < ? ORDER BY tokens_per_second",
            (model, start, end),
        )
    ]
    if not speeds:
        return None
    middle = len(speeds) // 2
    return speeds[middle] if len(speeds) % 2 else (speeds[middle - 1] + speeds[middle]) / 2


def conversation_usage(store: ChatStore, conversation_id: str) -> Usage:
    """One chat's totals (every reply of every branch it keeps)."""
    row = store.connection.execute(
        f"SELECT {_REPLY_SUMS} FROM usage WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    return _usage(row)
