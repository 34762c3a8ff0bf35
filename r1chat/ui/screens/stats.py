"""Provides the usage screen: tokens per day, speed per model over time, and the API bill a
local model saved, as plots in the app's colours."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import accumulate
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static, TabbedContent, TabPane

from r1chat.core.prices import money
from r1chat.errors import R1ChatError
from r1chat.text import one_line
from r1chat.ui.keys import key_for
from r1chat.ui.plain import plain

if TYPE_CHECKING:
    from textual_plotext import Plot

    from r1chat.core.service import ChatService, Price, UsageReport


MAX_BARS = 31
"""The most bars, the newest periods (a report spanning more than a month is by week)."""
MIN_SLOTS = 7
"""Room for at least this many bars, so a day or two of data draws bars, not a block."""


def bar_label(name: str, value: str, width: int, bars: int) -> str:
    """`name value` under one of `bars` bars, cut to the room a bar has in a plot `width`
    wide, so no two labels touch (plotext drops labels that do, not always the same)."""
    room = max(len(value) + 2, (width - 12) // max(1, max(bars, 3)) - 2)
    keep = room - len(value) - 1
    return f"{name if len(name) <= keep else name[: max(1, keep - 1)] + '…'} {value}"


def y_ticks(plt: Plot, top: float, label: Callable[[float], str]) -> None:
    """Three ticks up the y axis, each written as people read it (`6,097`, `$0.12`)
    instead of plotext's `6097.0`."""
    if top <= 0:
        return
    ticks = [0.0, top / 2, top]
    plt.yticks(ticks, [label(tick) for tick in ticks])
    plt.ylim(0, top * 1.05)


def short(count: float) -> str:
    """`950`, `12.3k`, `4.5M`."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 1_000:
        return f"{count / 1_000:.1f}k"
    return f"{count:.0f}"


def summary(report: UsageReport, prices: list[Price]) -> str:
    """The line above the plots: totals, and the bill at each compared price."""
    total = report.total
    if not total.replies:
        return "No replies yet: usage is counted as replies are saved."
    parts = [
        f"{total.replies:,} replies",
        f"{short(total.read)} tokens read",
        f"{short(total.reasoning)} thinking",
        f"{short(total.answer)} answer",
    ]
    bills = [
        f"{money(price.cost(total.read, total.written))} on {price.name} ({price.date} prices)"
        for price in prices
    ]
    return " · ".join(parts) + "\nNot paid: " + "; ".join(bills)


class StatsScreen(ModalScreen[None]):
    """Usage over time, with what the same tokens would have cost on hosted APIs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f4", "dismiss", "Close", id="stats.close", tooltip="Close the usage"),
    ]

    def __init__(self, service: ChatService) -> None:
        super().__init__(classes="dialog-screen")
        self.service = service
        self.report: UsageReport | None = None
        self.prices: list[Price] = []

    def compose(self) -> ComposeResult:
        from r1chat.ui.widgets.usage_plot import UsagePlot  # plotext loads with the screen

        with Vertical(classes="dialog stats-dialog") as dialog:
            dialog.border_title = "Usage"
            close = key_for(self.app, "stats.close", "escape")
            dialog.border_subtitle = f"←/→ switch plots · {close} close"
            yield Static(Content("Counting…"), id="stats-summary")
            with TabbedContent(id="stats-tabs"):
                with TabPane("Tokens", id="stats-tokens"):
                    yield UsagePlot(id="plot-tokens")
                with TabPane("Speed", id="stats-speed"):
                    yield UsagePlot(id="plot-speed")
                with TabPane("API bill not paid", id="stats-bill"):
                    yield UsagePlot(id="plot-bill")

    def on_mount(self) -> None:
        self.load()

    @work(group="stats-load", exclusive=True, exit_on_error=False, description="load usage")
    async def load(self) -> None:
        try:
            report, self.prices = await asyncio.to_thread(self.service.usage)
        except R1ChatError as error:
            self.query_one("#stats-summary", Static).update(plain(str(error)))
            return
        self.report = report
        self.query_one("#stats-summary", Static).update(plain(summary(report, self.prices)))
        self.draw()

    def _colour(self, name: str, fallback: str) -> tuple[int, int, int]:
        value = self.app.theme_variables.get(name, fallback)
        try:
            return Color.parse(value).rgb
        except Exception:
            return Color.parse(fallback).rgb

    @staticmethod
    def _date_ticks(plt: Plot, periods: list[str], width: int) -> None:
        """Dates under the x axis (`11-23`), as many as fit with room between them (plotext
        would otherwise drop the ones that touch, not always the same ones)."""
        if periods:
            room = max(2, (width - 10) // 8)
            step = -(-len(periods) // room)
            ticks = [float(i) for i in range(0, len(periods), step)]
            plt.xticks(ticks, [periods[int(i)][5:] for i in ticks])

    def draw(self) -> None:
        """Give the three plots what to draw from the loaded report."""
        if self.report is None:
            return
        report, prices = self.report, self.prices
        by_period: dict[str, list[int]] = {}
        for entry in report.periods:
            thinking, answer = by_period.setdefault(entry.period, [0, 0])
            by_period[entry.period] = [
                thinking + entry.usage.reasoning,
                answer + entry.usage.answer,
            ]
        periods = sorted(by_period)
        position = {period: index for index, period in enumerate(periods)}

        def palette() -> list[tuple[int, int, int]]:  # the theme's, as it is when drawn
            return [
                self._colour("primary", "#4f9dde"),
                self._colour("secondary", "#8a8f9c"),
                self._colour("accent", "#e0a84f"),
            ]

        def tokens(plt: Plot) -> None:
            if not periods:
                plt.title("No replies yet")
                return
            shown = periods[-MAX_BARS:]
            answer_colour, thinking_colour, _ = palette()
            stacked: Any = plt.stacked_bar  # plotext takes `labels`; its stub says `label`
            stacked(
                list(range(len(shown))),  # dates go under as ticks: plotext drops labels
                [[by_period[p][0] for p in shown], [by_period[p][1] for p in shown]],
                labels=["thinking", "answer"],
                color=[thinking_colour, answer_colour],
                width=0.6,
            )
            plt.xlim(-0.7, max(len(shown), MIN_SLOTS) - 0.3)
            self._date_ticks(plt, shown, self.query_one("#plot-tokens").size.width)
            y_ticks(plt, max(sum(by_period[p]) for p in shown), lambda n: f"{n:,.0f}")
            plt.title(f"Tokens written per {report.by} (thinking and answer)")

        def speed(plt: Plot) -> None:
            colours = palette()
            models = report.models[:6]
            title = f"Tokens per second (the median reply), per model and {report.by}"
            if len(periods) <= 1:  # one day: a bar per model says more than a dot
                speeds = [m.median_tokens_per_second or 0.0 for m in models]
                if any(speeds):
                    plt.bar(
                        list(range(len(models))),
                        speeds,
                        color=colours[0],
                        width=0.5,
                    )
                    room = self.query_one("#plot-speed").size.width
                    plt.xticks(
                        list(range(len(models))),
                        [
                            bar_label(one_line(m.model), f"{v:.1f}", room, len(models))
                            for m, v in zip(models, speeds, strict=True)
                        ],
                    )
                    plt.xlim(-0.7, max(len(models), 3) - 0.3)
                    y_ticks(plt, max(speeds), lambda n: f"{n:.0f}")
                plt.title(title)
                return
            top = 0.0
            for index, model in enumerate(models):
                points = [
                    (position[entry.period], entry.median_tokens_per_second)
                    for entry in report.periods
                    if entry.model == model.model and entry.median_tokens_per_second
                ]
                if points:
                    top = max(top, *(y for _, y in points if y))
                    plt.plot(
                        [x for x, _ in points],
                        [y or 0.0 for _, y in points],
                        label=one_line(model.model)[:30],
                        marker="braille",
                        color=colours[index % len(colours)],
                    )
            self._date_ticks(plt, periods, self.query_one("#plot-speed").size.width)
            y_ticks(plt, top, lambda n: f"{n:.0f}")
            plt.title(title)

        def bill(plt: Plot) -> None:
            colours = palette()
            title = "What the same tokens would have cost, running total in US$"
            if len(periods) <= 1:  # one day: a bar per price
                shown = prices[:3]
                costs = [price.cost(report.total.read, report.total.written) for price in shown]
                if any(costs):
                    plt.bar(list(range(len(shown))), costs, color=colours[0], width=0.5)
                    room = self.query_one("#plot-bill").size.width
                    plt.xticks(
                        list(range(len(shown))),
                        [
                            bar_label(one_line(p.name), money(c), room, len(shown))
                            for p, c in zip(shown, costs, strict=True)
                        ],
                    )
                    plt.xlim(-0.7, max(len(shown), 3) - 0.3)
                    y_ticks(plt, max(costs), money)
                plt.title(title)
                return
            top = 0.0
            for index, price in enumerate(prices[:3]):
                per_period = [0.0] * len(periods)
                for entry in report.periods:
                    per_period[position[entry.period]] += price.cost(
                        entry.usage.read, entry.usage.written
                    )
                if per_period:
                    running = list(accumulate(per_period))
                    top = max(top, running[-1])
                    plt.plot(
                        list(range(len(periods))),
                        running,
                        label=one_line(price.name)[:40],
                        marker="braille",
                        color=colours[index % len(colours)],
                    )
            self._date_ticks(plt, periods, self.query_one("#plot-bill").size.width)
            y_ticks(plt, top, money)
            plt.title(title)

        from r1chat.ui.widgets.usage_plot import UsagePlot

        self.query_one("#plot-tokens", UsagePlot).paint(tokens)
        self.query_one("#plot-speed", UsagePlot).paint(speed)
        self.query_one("#plot-bill", UsagePlot).paint(bill)
