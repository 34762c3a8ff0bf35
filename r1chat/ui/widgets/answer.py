"""Provides `AnswerView`: an answer's Markdown, rendered in blocks so streaming stays cheap.

A Textual `Markdown` widget mounts a widget per paragraph, list item and cell, and every
append lays the whole screen out again: at 300 tokens/s that costs most of a core. Here
an answer is cut at block boundaries (blank lines outside code, code fences); finished
blocks are rendered once and never touched again, and only the last one is re-rendered
while it streams. Prose is rendered by Rich's Markdown (which never reads Rich markup),
code by Rich's Syntax in a horizontally scrolling box, so long lines scroll, not wrap.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from textual.containers import ScrollableContainer, Vertical
from textual.widget import Widget
from textual.widgets import Static

from r1chat.text import terminal_safe
from r1chat.ui.widgets.growing import GrowingText
from r1chat.ui.widgets.sizing import laid_out_size

if TYPE_CHECKING:
    from rich.syntax import Syntax

PROSE_BLOCK = 400
"""Prose is cut at the first blank line after this many characters."""
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)|(?<![(\w])(https?://[^\s)<>\]]+)")


@dataclass
class Block:
    """A piece of an answer: prose (Markdown) or one fenced code block."""

    kind: Literal["prose", "code"]
    text: str
    """The Markdown source of the block, fences included for code."""
    closed: bool
    """Nothing more can join it (later text starts a new block)."""
    language: str = ""

    @property
    def code(self) -> str:
        """The code inside the fences."""
        lines = self.text.splitlines(keepends=True)
        while lines and not _FENCE.match(lines[0]):
            lines = lines[1:]  # blank lines before the opening fence
        fence, lines = lines[0] if lines else "```", lines[1:]
        opening = _FENCE.match(fence)
        if lines and opening and _closes(_FENCE.match(lines[-1]), opening.group(1)):
            lines = lines[:-1]
        return "".join(lines).rstrip("\n")


def _closes(match: re.Match[str] | None, fence: str) -> bool:
    """Whether a fence line closes a block opened with `fence`."""
    return (
        match is not None
        and not match.group(2)
        and match.group(1)[0] == fence[0]
        and len(match.group(1)) >= len(fence)
    )


def split_blocks(text: str) -> list[Block]:
    """Cut Markdown into blocks; only the last one may still be open.

    The blocks' texts add up to `text` exactly (blank lines between blocks join the
    next block), so a caller can keep track of how much it has rendered.
    """
    blocks: list[Block] = []
    current: list[str] = []
    fence: str | None = None
    language = ""

    def close(kind: Literal["prose", "code"]) -> None:
        body = "".join(current)
        if body.strip():
            blocks.append(Block(kind, body, True, language if kind == "code" else ""))
            current.clear()
        # Only blank lines so far: they stay and lead into the next block.

    for line in text.splitlines(keepends=True):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                close("prose")
                fence, language = match.group(1), match.group(2)
                current.append(line)
                continue
            current.append(line)
            if not line.strip() and sum(len(x) for x in current) >= PROSE_BLOCK:
                close("prose")
        else:
            current.append(line)
            # A closing fence counts once its line is complete ("```" may still grow).
            if line.endswith("\n") and _closes(match, fence):
                close("code")
                fence = None
    body = "".join(current)
    if fence is not None:
        blocks.append(Block("code", body, False, language))
    elif body.strip():
        blocks.append(Block("prose", body, False))
    return blocks


def links(markdown: str) -> list[str]:
    """The http(s) links in an answer, in order, without repeats."""
    found: list[str] = []
    for match in _LINK.finditer(markdown):
        url = match.group(2) or match.group(3)
        if url and url not in found:
            found.append(url.rstrip(".,;:"))
    return found


def load_renderers() -> None:
    """Import what answers are drawn with (Rich's Markdown and Syntax, with markdown-it and
    Pygments). Start-up leaves them out of the first frame; the chat screen calls this on a
    worker thread once the model has loaded, so the first reply does not wait for them."""
    for name in ("rich.markdown", "rich.syntax"):
        importlib.import_module(name)


class ProseBlock(GrowingText):
    """A block of Markdown prose; the last one grows while the answer streams."""

    def __init__(self, text: str, *, growing: bool = False) -> None:
        super().__init__(classes="prose-block", growing=growing)
        self.show(text, growing=growing)

    def show(self, text: str, *, growing: bool = False) -> None:
        """Render `text` (control sequences removed; links shown as text, never opened);
        `growing`: more of it may follow."""
        from rich.markdown import Markdown as RichMarkdown  # loaded with the first answer

        self.source = text
        markdown = RichMarkdown(terminal_safe(text.strip("\n")), hyperlinks=False)
        if growing:
            self.grow(markdown)
        else:
            self.settle(markdown)


WRAP_CODE_BELOW = 100
"""Terminal columns under which long code lines wrap instead of scrolling sideways (at
80 columns a sideways scroll hides most of every long line)."""


class CodeBlock(ScrollableContainer):
    """A fenced code block: highlighted; long lines scroll sideways, or wrap on a narrow
    terminal."""

    def __init__(self, code: str, language: str) -> None:
        super().__init__(classes="code-block")
        self.language = language or "text"
        self.code = code
        self._body = Static(self._syntax(code), classes="code-body")

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _: self.show(self.code), init=True)
        self._wrapped = self._wrap()

    def on_resize(self) -> None:
        if self._wrap() != getattr(self, "_wrapped", None):
            self._wrapped = self._wrap()
            self.show(self.code)

    def _wrap(self) -> bool:
        return self.is_attached and self.app.size.width < WRAP_CODE_BELOW

    def _syntax(self, code: str) -> Syntax:
        from rich.syntax import Syntax  # loaded with the first code block

        dark, background = True, "default"
        if self.is_attached:
            dark = self.app.current_theme.dark
            background = self.app.get_css_variables().get("surface", "default")
        return Syntax(
            terminal_safe(code) or " ",
            self.language,
            theme="monokai" if dark else "friendly",
            word_wrap=self._wrap(),
            background_color=background,
        )

    def show(self, code: str) -> None:
        """Render new code (while the block streams)."""
        self.code = code
        self._body.update(self._syntax(code))


class AnswerView(Vertical):
    """An answer as blocks; `append` while it streams, `finish` when it ends."""

    virtual_size = laid_out_size()

    def __init__(self, text: str = "") -> None:
        super().__init__(classes="answer")
        self.source = ""
        self._settled = 0  # characters of `source` rendered in finished blocks
        self._live: Widget | None = None
        self._live_kind: str | None = None
        self._initial = text

    def compose(self):  # type: ignore[no-untyped-def]
        # A finished answer (from the store) is rendered in one pass, block by block.
        if self._initial:
            blocks = split_blocks(self._initial)
            self.source = self._initial
            self._settled = sum(len(block.text) for block in blocks)
            for block in blocks:
                yield self._make(block)

    async def append(self, text: str) -> None:
        """Add streamed text: finished blocks are mounted once, the last one re-rendered."""
        self.source += text
        blocks = split_blocks(self.source[self._settled :])
        if not blocks:
            return
        for block in blocks[:-1]:
            await self._settle(block)
        await self._show_live(blocks[-1])

    async def finish(self) -> None:
        """The answer is complete: its last block is final."""
        blocks = split_blocks(self.source[self._settled :])
        for block in blocks:
            await self._settle(block)

    async def _settle(self, block: Block) -> None:
        if self._live is not None and self._live_kind == block.kind:
            widget, self._live = self._live, None
            self._fill(widget, block)
        else:
            if self._live is not None:
                await self._live.remove()
                self._live = None
            await self.mount(self._make(block))
        self._settled += len(block.text)

    async def _show_live(self, block: Block) -> None:
        if self._live is not None and self._live_kind != block.kind:
            await self._live.remove()
            self._live = None
        if self._live is None:
            self._live = self._make(block, growing=True)
            self._live_kind = block.kind
            await self.mount(self._live)
        else:
            self._fill(self._live, block, growing=True)

    @staticmethod
    def _make(block: Block, *, growing: bool = False) -> Widget:
        if block.kind == "code":
            return CodeBlock(block.code, block.language)
        return ProseBlock(block.text, growing=growing)

    @staticmethod
    def _fill(widget: Widget, block: Block, *, growing: bool = False) -> None:
        if isinstance(widget, CodeBlock):
            widget.show(block.code)
        elif isinstance(widget, ProseBlock):
            widget.show(block.text, growing=growing)
