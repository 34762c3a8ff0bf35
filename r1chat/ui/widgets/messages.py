"""Provides the conversation's message widgets: the user's turns and the assistant's replies."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message as TextualMessage
from textual.widget import Widget
from textual.widgets import Static

from r1chat.domain import Message, lacks_answer
from r1chat.text import moment_label, terminal_safe
from r1chat.ui.keys import key_for
from r1chat.ui.widgets.answer import AnswerView, links
from r1chat.ui.widgets.reasoning import (
    ReasoningBlock,
    ThinkingMode,
    latest_line,
    thinking_title,
)
from r1chat.ui.widgets.sizing import laid_out_size

if TYPE_CHECKING:
    _WidgetBase = Widget
else:
    _WidgetBase = object

_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced code blocks in `markdown`."""
    return [match.group(2) for match in _FENCE.finditer(markdown)]


def stats_line(stats: dict[str, Any] | None, status: str) -> str:
    """A quiet line under a reply: how it ended, speed and size."""
    parts: list[str] = []
    if status == "cancelled":
        parts.append("stopped")
    elif status in ("error", "interrupted") and stats and stats.get("error"):
        parts.append(f"failed: {' '.join(terminal_safe(str(stats['error'])).split())}")
    elif status in ("interrupted", "error"):
        parts.append(status)
    if stats:
        if stats.get("tokens_per_second"):
            parts.append(f"{stats['tokens_per_second']:.1f} tok/s")
        tokens = (stats.get("reasoning_tokens") or 0) + (stats.get("answer_tokens") or 0)
        if tokens:
            parts.append(f"{tokens:,} tokens")
        if stats.get("draft_tokens_accepted"):
            parts.append(f"{stats['draft_tokens_accepted']:,} from prompt lookup")
        if stats.get("finish_reason") == "length":
            parts.append("cut at the token limit")
    return " · ".join(parts)


@dataclass
class Versions:
    """Where a message sits among its alternatives (regenerated answers, edited questions)."""

    index: int
    count: int

    def label(self) -> str:
        """`‹ 2/3 ›`."""
        return f"‹ {self.index + 1}/{self.count} ›"


VERSION_BINDINGS: list[BindingType] = [
    Binding(
        "left",
        "version(-1)",
        "Older version",
        id="message.previous_version",
        tooltip="Show the previous version of this message",
    ),
    Binding(
        "right",
        "version(1)",
        "Newer version",
        id="message.next_version",
        tooltip="Show the next version of this message",
    ),
]


class EditRequested(TextualMessage):
    """The user wants to edit one of their messages (and send it as a new version)."""

    def __init__(self, message_id: str | None) -> None:
        super().__init__()
        self.message_id = message_id


class BranchRequested(TextualMessage):
    """The user wants the chat to go on from this reply, in a new branch."""

    def __init__(self, message_id: str | None) -> None:
        super().__init__()
        self.message_id = message_id


class VersionRequested(TextualMessage):
    """The user wants another version of a message shown (its branch becomes current)."""

    def __init__(self, message_id: str | None, step: int) -> None:
        super().__init__()
        self.message_id = message_id
        self.step = step


FINISH_WORDS = {"length": "token limit", "stop": "end of text", "cancelled": "stopped"}


def no_answer_line(
    answer: str,
    reasoning: str,
    stats: dict[str, Any],
    think_on: str = "Ctrl+G",
    again: str = "Ctrl+R",
) -> str:
    """What a reply that never left its reasoning says in place of an answer ('' otherwise)."""
    had = bool(stats.get("had_reasoning"))
    stopped = stats.get("finish_reason") == "cancelled"
    if not lacks_answer(answer, reasoning, had, stopped) or stats.get("finish_reason") == "error":
        return ""
    tokens = int(stats.get("reasoning_tokens") or 0)
    why = FINISH_WORDS.get(str(stats.get("finish_reason")), "stopped")
    return (
        f"No answer: the model stopped while reasoning ({tokens:,} tokens, {why}). "
        f"{think_on} thinks on from there, {again} answers again."
    )


class Stamped(_WidgetBase):
    """When a message was written: shown while it (or something in it) has focus, or on
    every message when the conversation's timestamps are on."""

    created_at: float
    show_time: bool
    """Show when it was written (the conversation's toggle; focus shows it too)."""

    def _stamp(self, created_at: float | None, show_time: bool) -> None:
        self.created_at = time.time() if created_at is None else created_at
        self.show_time = show_time

    def stamp_shown(self) -> bool:
        """Whether its time is shown now (focus is set before Focus arrives)."""
        return self.show_time or (self.is_mounted and self.has_focus_within)

    def set_time(self, created_at: float | None = None, show: bool | None = None) -> None:
        """When it was written (as saved), and whether to show it."""
        if created_at is not None:
            self.created_at = created_at
        if show is not None:
            self.show_time = show
        self._restamp()

    def _restamp(self) -> None:
        """Draw the time (or take it away) as `stamp_shown` says."""
        raise NotImplementedError

    def on_focus(self) -> None:
        self._restamp()

    def on_blur(self) -> None:
        self._restamp()

    def on_descendant_focus(self) -> None:
        self._restamp()

    def on_descendant_blur(self) -> None:
        self._restamp()


class UserMessage(Static, Stamped, can_focus=True):
    """Something the user wrote (shown as plain text, never as markup)."""

    virtual_size = laid_out_size()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "e",
            "edit",
            "Edit",
            id="message.edit",
            tooltip="Edit this message and send it again: a new version, and a new branch "
            "from here (what followed stays saved)",
        ),
        *VERSION_BINDINGS,
    ]

    def __init__(
        self,
        text: str,
        message_id: str | None = None,
        versions: Versions | None = None,
        created_at: float | None = None,
        show_time: bool = False,
    ) -> None:
        super().__init__(classes="user-message")
        self.text = text
        self.message_id = message_id
        self.versions = versions
        self._stamp(created_at, show_time)
        self._render_text()

    def _render_text(self) -> None:
        content = Content(terminal_safe(self.text))
        below = []
        if self.versions and self.versions.count > 1:
            below.append(self.versions.label())
        if self.stamp_shown():
            below.append(moment_label(self.created_at))
        if below:
            content = Content.assemble(content, ("\n" + "  ".join(below), "dim"))
        self.update(content)

    def _restamp(self) -> None:
        self._render_text()

    def set_versions(self, versions: Versions | None) -> None:
        """Show where this message sits among its edited versions."""
        self.versions = versions
        self._render_text()

    def action_version(self, step: int) -> None:
        self.post_message(VersionRequested(self.message_id, step))

    def action_edit(self) -> None:
        self.post_message(EditRequested(self.message_id))


class AssistantMessage(Vertical, Stamped, can_focus=True):
    """A reply: its reasoning block (if any), the answer as Markdown, and a footer line."""

    virtual_size = laid_out_size()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "copy_answer", "Copy", id="message.copy", tooltip="Copy this answer"),
        Binding(
            "enter",
            "toggle_thinking",
            "Thinking",
            id="message.toggle_thinking",
            tooltip="Open or close this reply's thinking block",
        ),
        Binding(
            "r",
            "copy_reasoning",
            "Copy thinking",
            id="message.copy_reasoning",
            tooltip="Copy this reply's thinking",
        ),
        Binding(
            "e",
            "export",
            "Export",
            id="message.export",
            tooltip="Save this reply (question, thinking and answer) as a Markdown file",
        ),
        Binding(
            "c",
            "copy_code",
            "Copy code",
            id="message.copy_code",
            tooltip="Copy this answer's last code block",
        ),
        *VERSION_BINDINGS,
        Binding(
            "b",
            "branch",
            "Branch here",
            id="message.branch",
            tooltip="Go on from this reply: your next message starts a new branch (what "
            "followed stays saved as another version)",
        ),
        Binding("d", "delete", "Delete", id="message.delete", tooltip="Delete this message"),
        Binding(
            "o",
            "open_link",
            "Open link",
            id="message.open_link",
            tooltip="Open a web link from this answer (asks first)",
        ),
    ]

    class LinkRequested(TextualMessage):
        """The user wants to open one of this reply's links."""

        def __init__(self, message: AssistantMessage, urls: list[str]) -> None:
            super().__init__()
            self.message = message
            self.urls = urls

    class ExportRequested(TextualMessage):
        """The user wants this reply saved as a Markdown file."""

        def __init__(self, message: AssistantMessage) -> None:
            super().__init__()
            self.message = message

    class DeleteRequested(TextualMessage):
        """The user wants this reply deleted."""

        def __init__(self, message: AssistantMessage) -> None:
            super().__init__()
            self.message = message

    def __init__(
        self,
        answer: str = "",
        reasoning: str = "",
        *,
        message_id: str | None = None,
        status: str = "complete",
        stats: dict[str, Any] | None = None,
        thinking_mode: ThinkingMode = "collapsed",
        streaming: bool = False,
        versions: Versions | None = None,
        think_budget: int | None = None,
        created_at: float | None = None,
        show_time: bool = False,
    ) -> None:
        super().__init__(classes="assistant-message")
        self._stamp(created_at, show_time)
        self.answer = answer
        self.reasoning = reasoning
        self.message_id = message_id
        self.status = status
        self.stats = stats or {}
        self.thinking_mode = thinking_mode
        self.streaming = streaming
        self.versions = versions
        self.reasoning_block: ReasoningBlock | None = None
        self.answer_view = AnswerView(answer)
        self.footer = Static("", classes="message-footer")
        self.no_answer = Static("", classes="no-answer")
        self.preview = Static("", classes="reasoning-preview")
        """While it reasons and the block is closed or hidden: the newest line of thought."""
        self.think_budget = think_budget
        self.live_tokens = 0
        """Reasoning tokens so far, while the reply streams."""
        self._live_seconds: float | None = None

    @classmethod
    def from_stored(
        cls,
        message: Message,
        thinking_mode: ThinkingMode,
        versions: Versions | None = None,
        show_time: bool = False,
    ) -> AssistantMessage:
        """A finished reply loaded from the store."""
        return cls(
            message.content,
            message.reasoning,
            message_id=message.id,
            status=message.status,
            stats=message.stats,
            thinking_mode=thinking_mode,
            versions=versions,
            created_at=message.created_at or None,
            show_time=show_time,
        )

    def _restamp(self) -> None:
        if self.is_mounted:
            self._update_footer()

    def compose(self) -> ComposeResult:
        had = self._had_reasoning()
        if self.streaming or had:
            self.reasoning_block = ReasoningBlock(
                self.reasoning,
                collapsed=self.thinking_mode != "expanded",
                title=self._title(live=self.streaming),
            )
            self.reasoning_block.display = self.thinking_mode != "hidden" and (
                had or not self.streaming
            )
            yield self.reasoning_block
        self.preview.display = False
        yield self.preview
        yield self.answer_view
        yield self.no_answer
        yield self.footer

    def on_mount(self) -> None:
        self._update_footer()

    def _had_reasoning(self) -> bool:
        """It reasoned, opened a reasoning block, or was asked not to reason. A reply
        stopped before its first token (an R1 prompt opens the block for it) did none."""
        stats = self.stats
        if stats.get("thinking_off") or self.reasoning:
            return True
        nothing = stats.get("completion_tokens") == 0 and not self.answer
        return bool(stats.get("had_reasoning")) and not nothing

    def _title(self, live: bool, seconds: float | None = None) -> str:
        if live:
            return thinking_title(
                seconds, self.live_tokens, live=True, empty=False, budget=self.think_budget
            )
        stats = self.stats
        return thinking_title(
            stats.get("reasoning_seconds"),
            stats.get("reasoning_tokens"),
            live=False,
            empty=not self.reasoning.strip(),
            cut=stats.get("reasoning_cut"),
            off=bool(stats.get("thinking_off")),
        )

    def _update_footer(self) -> None:
        parts = []
        if self.stamp_shown() and not self.streaming:
            parts.append(moment_label(self.created_at))
        if self.versions and self.versions.count > 1:
            parts.append(self.versions.label())
        line = stats_line(self.stats, self.status)
        if line:
            parts.append(line)
        self.footer.update(Content("  ".join(parts)))
        self.footer.display = bool(parts)
        notice = (
            ""
            if self.streaming
            else no_answer_line(
                self.answer,
                self.reasoning,
                self.stats,
                key_for(self.app, "chat.continue", "ctrl+g"),
                key_for(self.app, "chat.regenerate", "ctrl+r"),
            )
        )
        self.no_answer.update(Content(notice))
        self.no_answer.display = bool(notice)

    @property
    def has_no_answer(self) -> bool:
        """The reply ended while reasoning: there is no answer to show."""
        return bool(no_answer_line(self.answer, self.reasoning, self.stats))

    def set_versions(self, versions: Versions | None) -> None:
        """Show where this reply sits among its regenerated versions."""
        self.versions = versions
        self._update_footer()

    # Streaming

    def append_reasoning(self, text: str, tokens: int = 0) -> None:
        """Add streamed reasoning (`tokens` of it); the block appears with the first piece."""
        self.reasoning += text
        self.live_tokens += tokens
        if self.reasoning_block is not None:
            if not self.reasoning_block.display and self.thinking_mode != "hidden":
                self.reasoning_block.display = True
            self.reasoning_block.append(text)

    async def append_answer(self, text: str) -> None:
        """Add streamed answer text (the live preview of the reasoning goes, and the
        reasoning's title stops saying `Thinking…`)."""
        first = not self.answer
        self.answer += text
        if self.preview.display:
            self.preview.display = False
        if self.reasoning_block is not None:
            self.reasoning_block.settle()
            if first and self.reasoning.strip():
                # Thought for as long as the clock last said; `finish` puts in the
                # exact figures and why the reasoning ended.
                self.reasoning_block.title = thinking_title(
                    self._live_seconds, self.live_tokens, live=False, empty=False
                )
        await self.answer_view.append(text)

    def tick(self, seconds: float | None) -> None:
        """Refresh the live thinking time (`None`: the prompt is still being read), token
        count and preview (once a frame)."""
        if self.reasoning_block is None or not self.streaming or self.answer:
            return
        self._live_seconds = seconds
        title = self._title(live=True, seconds=seconds)
        self.reasoning_block.title = title
        self._show_preview(title)

    def _show_preview(self, title: str) -> None:
        """One dim line: the newest reasoning (hidden mode: after the title)."""
        line = latest_line(self.reasoning)
        if self.thinking_mode == "expanded" or (not line and self.thinking_mode != "hidden"):
            self.preview.display = False
            return
        text = line
        if self.thinking_mode == "hidden":
            text = f"{title} · {line}" if line else title
        self.preview.update(Content(text), layout=not self.preview.display)
        self.preview.display = True

    async def finish(
        self,
        status: str,
        stats: dict[str, Any] | None,
        message_id: str | None,
        versions: Versions | None = None,
    ) -> None:
        """The reply ended: settle the answer, the title and the footer."""
        await self.answer_view.finish()
        if self.reasoning_block is not None:
            self.reasoning_block.settle()
        self.streaming = False
        self.status = status
        self.stats = stats or {}
        self.message_id = message_id
        self.versions = versions
        self.preview.display = False
        if self.reasoning_block is not None:
            self.reasoning_block.title = self._title(live=False)
            self.reasoning_block.display = self._had_reasoning() and self.thinking_mode != "hidden"
        self._update_footer()

    def apply_mode(self, mode: ThinkingMode) -> None:
        """Apply the conversation's thinking mode to this reply's block."""
        self.thinking_mode = mode
        if self.reasoning_block is None:
            return
        had = self._had_reasoning() or self.streaming
        self.reasoning_block.apply_mode(mode if had else "hidden")
        if self.streaming and not self.answer:
            self._show_preview(self._title(live=True, seconds=self._live_seconds))

    # Actions

    def action_copy_answer(self) -> None:
        if not self.answer.strip():
            self.notify("This reply has no answer to copy.", severity="warning")
            return
        self.app.copy_to_clipboard(self.answer)
        self.notify("Answer copied to the clipboard.")

    def action_toggle_thinking(self) -> None:
        block = self.reasoning_block
        if block is None or not block.display:
            self.notify("This reply has no thinking to show.", severity="warning")
            return
        block.collapsed = not block.collapsed

    def action_copy_reasoning(self) -> None:
        if not self.reasoning.strip():
            self.notify("This reply has no reasoning.", severity="warning")
            return
        self.app.copy_to_clipboard(self.reasoning)
        self.notify("Thinking copied to the clipboard.")

    def action_export(self) -> None:
        self.post_message(self.ExportRequested(self))

    def action_copy_code(self) -> None:
        blocks = code_blocks(self.answer)
        if not blocks:
            self.notify("This answer has no code block.", severity="warning")
            return
        self.app.copy_to_clipboard(blocks[-1])
        self.notify("Code block copied to the clipboard.")

    def action_version(self, step: int) -> None:
        self.post_message(VersionRequested(self.message_id, step))

    def action_branch(self) -> None:
        self.post_message(BranchRequested(self.message_id))

    def action_delete(self) -> None:
        self.post_message(self.DeleteRequested(self))

    def action_open_link(self) -> None:
        found = links(self.answer)
        if not found:
            self.notify("This answer has no web links.", severity="warning")
            return
        self.post_message(self.LinkRequested(self, found))
