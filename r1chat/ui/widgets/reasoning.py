"""Provides `ReasoningBlock`: the collapsible view of a reply's thinking, streamed live."""

from __future__ import annotations

from typing import Literal

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Collapsible, Static

from r1chat.text import terminal_safe

ThinkingMode = Literal["expanded", "collapsed", "hidden"]
THINKING_MODES: tuple[ThinkingMode, ...] = ("expanded", "collapsed", "hidden")


def thinking_title(seconds: float | None, tokens: int | None, *, live: bool, empty: bool) -> str:
    """`Thinking… 4.2 s` while it streams, `Thought for 12.4 s · 312 tokens` after."""
    if live:
        return f"Thinking… {seconds or 0:.1f} s"
    if empty:
        return "No reasoning"
    parts = [f"Thought for {seconds:.1f} s" if seconds is not None else "Thought"]
    if tokens:
        parts.append(f"{tokens:,} tokens")
    return " · ".join(parts)


class ReasoningText(Vertical):
    """Reasoning as plain paragraphs; only the last one changes while it streams.

    Plain text is much cheaper than Markdown to re-render many times a second.
    """

    def __init__(self, text: str = "") -> None:
        super().__init__(classes="reasoning-text")
        self._paragraphs: list[str] = [""]
        self._initial = text

    def on_mount(self) -> None:
        if self._initial:
            self.append(self._initial)

    def append(self, text: str) -> None:
        """Add streamed reasoning text."""
        parts = terminal_safe(text).split("\n\n")
        self._paragraphs[-1] += parts[0]
        self._refresh_last(new=False)
        for part in parts[1:]:
            self._paragraphs.append(part)
            self._refresh_last(new=True)

    def _refresh_last(self, new: bool) -> None:
        content = Content(self._paragraphs[-1].strip("\n"))
        children = self.query_children(Static)
        if new or not children:
            self.mount(Static(content, classes="paragraph"))
        else:
            children.last().update(content)

    @property
    def text(self) -> str:
        """All the reasoning shown."""
        return "\n\n".join(self._paragraphs)


class ReasoningBlock(Collapsible):
    """A reply's reasoning above its answer; its title tells how long it thought."""

    def __init__(self, text: str = "", *, collapsed: bool = True, title: str = "Thinking…") -> None:
        self.body = ReasoningText(text)
        super().__init__(self.body, title=title, collapsed=collapsed, classes="reasoning")

    def append(self, text: str) -> None:
        """Add streamed reasoning text."""
        self.body.append(text)

    def apply_mode(self, mode: ThinkingMode) -> None:
        """Show it open, closed, or not at all."""
        self.display = mode != "hidden"
        if mode != "hidden":
            self.collapsed = mode == "collapsed"
