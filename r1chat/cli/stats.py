"""Provides `r1chat stats`: usage and speed over time, and what the same tokens would have
cost on hosted APIs."""

from __future__ import annotations

import datetime
import json
import re
import time
from typing import Any

from r1chat.cli.console import cell, cell_len, console
from r1chat.config import load_settings
from r1chat.core.chats import (
    ChatStore,
    Grouping,
    Usage,
    UsageReport,
    natural_grouping,
    usage_report,
)
from r1chat.core.prices import Price, compared_prices, money
from r1chat.errors import R1ChatError
from r1chat.paths import Paths
from r1chat.text import terminal_safe

_RELATIVE = re.compile(r"^(\d{1,4})\s*([dw])$", re.IGNORECASE)


def parse_since(text: str, now: float | None = None) -> float:
    """`2026-11-01` (midnight here), `7d` or `4w` (back from now), as a timestamp."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        days = int(relative.group(1)) * (7 if relative.group(2).lower() == "w" else 1)
        return (time.time() if now is None else now) - days * 86400
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise R1ChatError(
            f"--since {value!r} is not a date: give YYYY-MM-DD (for example 2026-11-01), "
            "or a number of days or weeks back (7d, 4w)."
        ) from None
    return datetime.datetime.combine(day, datetime.time()).timestamp()


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h 05 min`."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min"


def _zone() -> str:
    """The local time zone's name (a TZ whose offset Python cannot hold, `UTC+99`, reads as
    `local time` rather than failing the report)."""
    try:
        return datetime.datetime.now().astimezone().tzname() or "local time"
    except (ValueError, OverflowError):
        return "local time"


def report_dict(
    report: UsageReport,
    prices: list[Price],
    since: float | None,
    model: str | None,
    by: Grouping,
) -> dict[str, Any]:
    """`stats --json`: every figure, and which price (and its date) each cost used."""

    def costs(usage: Usage) -> dict[str, float]:
        return {price.key: price.cost(usage.read, usage.written) for price in prices}

    return {
        "since": since,
        "model": model,
        "time_zone": _zone(),
        "by": by,
        "prices": [price.to_dict() for price in prices],
        "total": {**report.total.to_dict(), "api_cost_usd": costs(report.total)},
        "models": [
            {
                "model": entry.model,
                **entry.usage.to_dict(),
                "median_tokens_per_second": entry.median_tokens_per_second,
                "median_time_to_first_token": entry.median_first_token_seconds,
                "api_cost_usd": costs(entry.usage),
            }
            for entry in report.models
        ],
        "periods": [
            {
                "period": entry.period,
                "model": entry.model,
                **entry.usage.to_dict(),
                "api_cost_usd": costs(entry.usage),
            }
            for entry in report.periods
        ],
    }


def stats_command(
    since_text: str | None,
    model: str | None,
    by: str | None,
    price_keys: list[str] | None,
    as_json: bool,
) -> None:
    """`r1chat stats`."""
    paths = Paths.from_env()
    settings = load_settings(paths)
    prices = compared_prices(settings, price_keys or None)
    since = parse_since(since_text) if since_text else None
    if by not in (None, "day", "week"):
        raise R1ChatError(f"--by {by!r}: give day or week.")
    store = ChatStore.open(paths)
    try:
        grouping: Grouping = "day" if by == "day" else "week"
        if by is None:
            grouping = natural_grouping(store, since, model)
        report = usage_report(store, since=since, model=model, by=grouping)
        if model is not None and not report.models:
            known = [entry.model for entry in usage_report(store, since=since).models]
            if known:
                raise R1ChatError(
                    f"No replies from {model}{_since_words(since)}; models with replies: "
                    f"{', '.join(known)}."
                )
    finally:
        store.close()
    if as_json:
        document = report_dict(report, prices, since, model, grouping)
        print(json.dumps(document, ensure_ascii=True, indent=2))
        return
    _print_report(report, prices, since, grouping)


def _since_words(since: float | None) -> str:
    if since is None:
        return ""
    return f" since {datetime.datetime.fromtimestamp(since):%Y-%m-%d %H:%M}"


def _print_report(
    report: UsageReport, prices: list[Price], since: float | None, by: Grouping
) -> None:
    from rich.text import Text

    out = console()
    total = report.total
    if not total.replies:
        print(f"No replies yet{_since_words(since)}; usage is counted as replies are saved.")
        return
    out.print(
        Text(
            f"{total.replies:,} replies{_since_words(since)} (days in {_zone()})",
            style="bold",
        )
    )
    names = [entry.model for entry in report.models] + ["all models"]
    longest = max(10, *(cell_len(name) for name in names))

    def emit(prefix: str, name: str, rest: str, width: int, style: str = "") -> None:
        """One row; a name too long for its column gets a line of its own (never cut)."""
        if cell_len(name) > width:
            out.print(
                Text(prefix + terminal_safe(name), style=style),
                no_wrap=True,
                crop=False,
                overflow="ignore",
            )
            prefix, name = " " * len(prefix), ""
        out.print(
            Text(prefix + cell(name, width) + rest, style=style),
            no_wrap=True,
            crop=False,
            overflow="ignore",
        )

    def table(header: list[str], rows: list[tuple[str, list[str]]], widths: list[int]) -> None:
        numbers = sum(w + 2 for w in widths)
        width = max(10, min(longest, out.width - numbers))
        titles = "".join(f"  {h:>{w}}" for h, w in zip(header[1:], widths, strict=True))
        emit("", header[0], titles, width, "bold")
        for index, (name, values) in enumerate(rows):
            style = "bold" if index == len(rows) - 1 and len(rows) > 2 else ""
            rest = "".join(f"  {v:>{w}}" for v, w in zip(values, widths, strict=True))
            emit("", name, rest, width, style)

    out.print()
    tokens = [(entry.model, entry.usage) for entry in report.models] + (
        [("all models", total)] if len(report.models) > 1 else []
    )
    table(
        ["tokens", "replies", "read", "thinking", "answer"],
        [
            (name, [f"{u.replies:,}", f"{u.read:,}", f"{u.reasoning:,}", f"{u.answer:,}"])
            for name, u in tokens
        ],
        [7, 11, 11, 11],
    )
    out.print()
    table(
        ["time", "thinking", "answering", "tok/s", "1st token"],
        [
            (
                entry.model,
                [
                    duration(entry.usage.thinking_seconds),
                    duration(entry.usage.answering_seconds),
                    f"{entry.median_tokens_per_second:.1f}"
                    if entry.median_tokens_per_second
                    else "–",
                    f"{entry.median_first_token_seconds:.2f} s"
                    if entry.median_first_token_seconds
                    else "–",
                ],
            )
            for entry in report.models
        ],
        [12, 12, 7, 9],
    )
    out.print(Text("tok/s and 1st token: medians over the replies.", style="dim"))
    out.print()
    numbers = f"  {'replies':>7}  {'read':>11}  {'thinking':>11}  {'answer':>11}"
    width = max(10, min(longest, out.width - len(numbers) - 12))
    emit(cell(f"per {by}", 10) + "  ", "model", numbers, width, "bold")
    for entry in report.periods:
        u = entry.usage
        rest = f"  {u.replies:>7,}  {u.read:>11,}  {u.reasoning:>11,}  {u.answer:>11,}"
        emit(cell(entry.period, 10) + "  ", entry.model, rest, width)
    if by == "week":
        out.print(Text("Weeks start on Monday.", style="dim"))
    out.print()
    out.print(Text("What the same tokens would have cost on a hosted API:", style="bold"))
    for price in prices:
        out.print(Text(f"  {money(price.cost(total.read, total.written)):>10}  {price.name}"))
        out.print(
            Text(
                f"  {'':>10}  ${price.input:g} in / ${price.output:g} out per million tokens, "
                f"prices of {price.date}",
                style="dim",
            )
        )
    out.print(
        Text(
            "Thinking is billed as output; cache discounts are left out.\n"
            "Change or add prices under [prices.KEY] in config.toml.",
            style="dim",
        )
    )
