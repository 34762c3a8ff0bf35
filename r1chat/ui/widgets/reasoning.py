"""Provides `ReasoningBlock`: the collapsible view of a reply's thinking, streamed live."""

from __future__ import annotations

from typing import Literal

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Collapsible

from r1chat.text import terminal_safe
from r1chat.ui.widgets.growing import GrowingText
from r1chat.ui.widgets.sizing import laid_out_size

ThinkingMode = Literal["expanded", "collapsed", "hidden"]
THINKING_MODES: tuple[ThinkingMode, ...] = ("expanded", "collapsed", "hidden")


CUT_WORDS = {"budget": "budget reached", "user": "cut short"}


def thinking_title(
    seconds: float | None,
    tokens: int | None,
    *,
    live: bool,
    empty: bool,
    budget: int | None = None,
    cut: str | None = None,
    off: bool = False,
) -> str:
    """`Thinking… 4.2 s · 312 tokens` while it streams, `Thought for 12.4 s · 312 tokens` after.

    A budget shows as `312 / 1,024 tokens`; a reasoning ended early says why.
    """
    if live:
        count = f"{tokens or 0:,}" + (f" / {budget:,}" if budget else "")
        if seconds is None:  # the prompt is still being read: no thinking time yet
            return f"Thinking… {count} tokens"
        return f"Thinking… {seconds:.1f} s · {count} tokens"
    if off:
        return "No reasoning (off)"
    if empty:
        return "No reasoning"
    parts = [f"Thought for {seconds:.1f} s" if seconds is not None else "Thought"]
    if tokens:
        parts.append(f"{tokens:,} tokens")
    if cut in CUT_WORDS:
        parts.append(CUT_WORDS[cut])
    return " · ".join(parts)


def latest_line(reasoning: str) -> str:
    """The last line of reasoning with text in it (read from the end: cheap at any length)."""
    tail = reasoning[-600:]
    for line in reversed(tail.splitlines()):
        if line.strip():
            return terminal_safe(line.strip())
    return ""


class ReasoningText(Vertical):
    """Reasoning as plain paragraphs; only the last one changes while it streams.

    Plain text is much cheaper than Markdown to re-render many times a second.
    """

    virtual_size = laid_out_size()

    def __init__(self, text: str = "") -> None:
        super().__init__(classes="reasoning-text")
        self._paragraphs: list[str] = [""]
        self._shown = 0  # paragraphs with a widget; none until the block is first opened
        self.visible = False
        self.streaming = False
        """More reasoning may come: the last paragraph grows (see `GrowingText`)."""
        if text:
            self._add(text)

    def _add(self, text: str) -> None:
        parts = terminal_safe(text).split("\n\n")
        self._paragraphs[-1] += parts[0]
        self._paragraphs.extend(parts[1:])

    def append(self, text: str) -> None:
        """Add streamed reasoning text (shown at once if the block is open)."""
        self.streaming = True
        self._add(text)
        if self.visible:
            self.sync()

    def settle(self) -> None:
        """The reasoning is over: its last paragraph takes its own height again."""
        if not self.streaming:
            return
        self.streaming = False
        if self._shown:
            self.query_children(GrowingText).last().settle()

    def sync(self) -> None:
        """Bring the widgets up to date with the text: new paragraphs, and the last one."""
        self.visible = True
        if self._shown:
            last = self.query_children(GrowingText).last()
            text = Content(self._paragraphs[self._shown - 1].strip("\n"))
            if self.streaming and self._shown == len(self._paragraphs):
                last.grow(text)
            else:
                last.settle(text)
        new = [
            GrowingText(Content(paragraph.strip("\n")), classes="paragraph")
            for paragraph in self._paragraphs[self._shown :]
        ]
        self._shown = len(self._paragraphs)
        if new:
            new[-1].growing = self.streaming
            self.mount_all(new)

    @property
    def text(self) -> str:
        """All the reasoning shown."""
        return "\n\n".join(self._paragraphs)


class ReasoningBlock(Collapsible):
    """A reply's reasoning above its answer; its title tells how long it thought."""

    def __init__(self, text: str = "", *, collapsed: bool = True, title: str = "Thinking…") -> None:
        self.body = ReasoningText(text)
        super().__init__(self.body, title=title, collapsed=collapsed, classes="reasoning")

    def on_mount(self) -> None:
        if not self.collapsed:
            self.body.sync()

    def on_collapsible_expanded(self, event: Collapsible.Expanded) -> None:
        # The text is only turned into widgets once someone opens the block.
        if event.collapsible is self:
            self.body.sync()

    def append(self, text: str) -> None:
        """Add streamed reasoning text."""
        self.body.append(text)

    def settle(self) -> None:
        """The reasoning is over (the answer began, or the reply ended)."""
        self.body.settle()

    def apply_mode(self, mode: ThinkingMode) -> None:
        """Show it open, closed, or not at all."""
        self.display = mode != "hidden"
        if mode != "hidden":
            self.collapsed = mode == "collapsed"
