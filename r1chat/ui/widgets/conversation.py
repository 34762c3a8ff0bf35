"""Provides `ConversationView`: the scrolling messages, a window of pages over the branch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from r1chat.domain import Message
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage, Versions
from r1chat.ui.widgets.reasoning import ThinkingMode
from r1chat.ui.widgets.sizing import laid_out_size

PAGE = 10
"""Messages rendered at a time: a long conversation opens at its end, more pages on scrolling
(and at once while the shown ones do not fill the view, so that it can scroll)."""
WINDOW = 6 * PAGE
"""Most messages kept as widgets; pages past it on the far side are let go."""
EDGE = 2
"""Scrolling within this many lines of the top (or bottom) brings the next page in."""


SHOWN_TEXT = 100_000
"""Characters of one message's text (or reasoning) laid out on screen; past this the rest
is left to `r1chat show`, so a message of megabytes never freezes the app."""


def shown_part(message: Message) -> Message:
    """`message` as the screen shows it: a text past `SHOWN_TEXT` is cut, with a line that
    says how much is left out and where to read it all."""

    def cut(text: str) -> str:
        if len(text) <= SHOWN_TEXT:
            return text
        left = len(text) - SHOWN_TEXT
        return (
            f"{text[:SHOWN_TEXT]}…\n\n({left:,} more characters are not shown here; "
            f"`r1chat show {message.conversation_id[:12]}` prints them all.)"
        )

    if len(message.content) <= SHOWN_TEXT and len(message.reasoning) <= SHOWN_TEXT:
        return message
    return replace(message, content=cut(message.content), reasoning=cut(message.reasoning))


class ConversationView(VerticalScroll):
    """The messages of one conversation; follows a streaming reply unless scrolled up.

    A long branch is shown as a window of pages: scrolling near the top brings in
    older pages, near the bottom newer ones, and `Home` / `End` jump to the first
    and the last message.
    """

    virtual_size = laid_out_size()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "home", "first", "First", id="conversation.first", tooltip="Jump to the first message"
        ),
        Binding("end", "last", "Last", id="conversation.last", tooltip="Jump to the last message"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._messages: list[Message] = []
        self._start = 0
        self._end = 0
        self._versions: dict[str, Versions] = {}
        self._memory_start: int | None = None
        self._window = asyncio.Lock()
        """Held while the shown pages change: paging, jumps and `show` never interleave."""
        self.thinking_mode: ThinkingMode = "collapsed"
        self.timestamps = False
        """Every message shows when it was written (a focused one always does)."""

    def _widget_for(self, message: Message) -> Widget:
        versions = self._versions.get(message.id)
        message = shown_part(message)
        if message.role == "assistant":
            return AssistantMessage.from_stored(
                message, self.thinking_mode, versions, show_time=self.timestamps
            )
        return UserMessage(
            message.content,
            message.id,
            versions,
            created_at=message.created_at or None,
            show_time=self.timestamps,
        )

    def _widgets_for(self, start: int, end: int) -> list[Widget]:
        widgets: list[Widget] = []
        for index in range(start, end):
            if index == self._memory_start and index > 0:
                widgets.append(memory_marker())
            widgets.append(self._widget_for(self._messages[index]))
        return widgets

    async def show(
        self,
        messages: Sequence[Message],
        versions: dict[str, Versions] | None = None,
        empty_hint: str = "",
    ) -> None:
        """Replace what is shown with `messages` (only the newest page is rendered now)."""
        async with self._window:
            self._versions = versions or {}
            self._messages = list(messages)
            self._memory_start = None
            end = len(self._messages)
            await self._replace_pages(max(0, end - PAGE), end)
            if not messages and empty_hint:
                await self.mount(Static(Content(empty_hint), classes="empty-hint"))
            self.scroll_end(animate=False, immediate=True)
            self.anchor()
        self.fill_soon()

    def on_resize(self) -> None:
        self.fill_soon()

    def watch_virtual_size(self) -> None:
        self.fill_soon()

    def _unfilled(self) -> bool:
        """Whether earlier pages exist while the shown ones do not fill the view."""
        height = self.scrollable_content_region.height
        return self._start > 0 and height > 0 and self.virtual_size.height <= height

    def fill_soon(self) -> None:
        """Bring in earlier pages if the shown ones do not fill the view (so it can scroll)."""
        if self._unfilled() and not self._window.locked():
            self.run_worker(self._fill(), group="paging")

    async def _fill(self) -> None:
        for _ in range(WINDOW // PAGE - 1):
            if not self._unfilled() or self._window.locked():
                return
            await self.load_earlier()
            self.scroll_end(animate=False, immediate=True)
            self.anchor()

    async def _replace_pages(self, start: int, end: int) -> None:
        """Show messages `start` to `end` of the branch in place of what is shown."""
        await self.remove_children()
        self._start, self._end = start, end
        await self.mount_all(self._widgets_for(start, end))

    def sync(self, messages: Sequence[Message], versions: dict[str, Versions]) -> None:
        """Take the saved branch after a reply, without drawing it again.

        The widgets shown last are the branch's newest messages: the ones added while
        the reply streamed get their saved ids and versions here.
        """
        self._versions = versions
        widgets = self._message_widgets()
        self._messages = list(messages)
        self._end = len(self._messages)
        self._start = max(0, self._end - len(widgets))
        for widget, message in zip(reversed(widgets), reversed(self._messages), strict=False):
            if isinstance(widget, UserMessage | AssistantMessage):
                widget.message_id = widget.message_id or message.id
                widget.set_versions(versions.get(widget.message_id))
                if message.created_at and widget.message_id == message.id:
                    widget.set_time(message.created_at)

    def _message_widgets(self) -> list[Widget]:
        return list(self.query_children(".user-message, .assistant-message"))

    @property
    def at_end(self) -> bool:
        """Whether the newest message is shown (new messages can be added)."""
        return self._end >= len(self._messages)

    @property
    def hidden_count(self) -> int:
        """Messages of the branch not rendered now."""
        return self._start + len(self._messages) - self._end

    # Paging

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new <= EDGE and new < old:
            self._earlier_if_at_top()
        elif new >= self.max_scroll_y - EDGE and new > old:
            self._later_if_at_bottom()

    def _earlier_if_at_top(self) -> None:
        """Bring in the page before the first one shown if the view is at its top: also
        when the scroll position did not move (PageUp or the wheel at the very top)."""
        if self._window.locked() or not self.is_mounted or self._start == 0:
            return
        if self.scroll_y <= EDGE:
            self.run_worker(self.load_earlier(), group="paging")

    def _later_if_at_bottom(self) -> None:
        if self._window.locked() or not self.is_mounted or self.at_end:
            return
        if self.scroll_y >= self.max_scroll_y - EDGE:
            self.run_worker(self.load_later(), group="paging")

    def action_page_up(self) -> None:
        super().action_page_up()
        self._earlier_if_at_top()

    def action_scroll_up(self) -> None:
        super().action_scroll_up()
        self._earlier_if_at_top()

    def action_page_down(self) -> None:
        super().action_page_down()
        self._later_if_at_bottom()

    def action_scroll_down(self) -> None:
        super().action_scroll_down()
        self._later_if_at_bottom()

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        super()._on_mouse_scroll_up(event)
        self._earlier_if_at_top()
        event.stop()  # the view scrolls, or pages in what is above: not the screen

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        super()._on_mouse_scroll_down(event)
        self._later_if_at_bottom()
        event.stop()

    async def load_earlier(self) -> None:
        """Render the page before the first one shown, keeping the view where it was."""
        async with self._window:
            if self._start == 0:
                return
            start = max(0, self._start - PAGE)
            widgets = self._widgets_for(start, self._start)
            first = self.query_children(".user-message, .assistant-message, .memory-marker")
            anchor = first.first() if first else None
            anchor_y = anchor.virtual_region.y if anchor is not None else 0
            await self.mount_all(widgets, before=anchor)
            self._start = start
            await self._trim(keep_start=True)
            self.release_anchor()
            await self._settle()
            # The page went in above what was shown: move down by what it added there, so
            # the same line stays in view (what was let go of below does not count).
            added = (anchor.virtual_region.y - anchor_y) if anchor is not None else 0
            self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True)

    async def load_later(self) -> None:
        """Render the page after the last one shown."""
        async with self._window:
            if self.at_end:
                return
            end = min(len(self._messages), self._end + PAGE)
            await self.mount_all(self._widgets_for(self._end, end))
            self._end = end
            await self._trim(keep_start=False)

    async def _trim(self, keep_start: bool) -> None:
        """Let go of pages on the far side once more than `WINDOW` messages are shown."""
        widgets = self._message_widgets()
        extra = len(widgets) - WINDOW
        if extra <= 0:
            return
        if keep_start:
            await self.remove_children(widgets[-extra:])
            self._end -= extra
        else:
            before = self.virtual_size.height
            await self.remove_children(widgets[:extra])
            self._start += extra
            await self._settle()
            self.scroll_to(
                y=max(0, self.scroll_y - (before - self.virtual_size.height)),
                animate=False,
                immediate=True,
            )

    async def _settle(self) -> None:
        """Wait until the new widgets are laid out (so heights are known)."""
        laid_out: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.refresh(layout=True)

        def done() -> None:
            if not laid_out.done():
                laid_out.set_result(None)

        self.call_after_refresh(done)
        await laid_out

    async def jump_to(self, message_id: str) -> bool:
        """Show the page around a message of this branch and scroll it into view (focused);
        `False` if the branch does not hold it."""
        index = next((i for i, m in enumerate(self._messages) if m.id == message_id), None)
        if index is None:
            return False
        async with self._window:
            if not self._start <= index < self._end:
                start = max(0, index - PAGE // 2)
                await self._replace_pages(start, min(len(self._messages), start + PAGE))
            self.release_anchor()
        target = next(
            (w for w in self._message_widgets() if getattr(w, "message_id", None) == message_id),
            None,
        )
        if target is None:
            return False
        self.call_after_refresh(self.scroll_to_widget, target, animate=False, top=True)
        target.focus()
        return True

    async def action_first(self) -> None:
        """Show the conversation's first page, from the top."""
        async with self._window:
            if self._start > 0:
                await self._replace_pages(0, min(len(self._messages), PAGE))
            self.release_anchor()
            self.scroll_home(animate=False, immediate=True)

    async def action_last(self) -> None:
        """Show the conversation's newest page, and follow it."""
        await self.jump_end()

    async def keep_first(self, count: int) -> None:
        """Show the branch's first `count` messages only: an edit or a new branch goes on
        after them (the rest stays saved)."""
        await self.show(self._messages[:count], self._versions)

    async def jump_end(self) -> None:
        """Show the newest page (before a new message is added)."""
        async with self._window:
            if not self.at_end:
                end = len(self._messages)
                await self._replace_pages(max(0, end - PAGE), end)
            self.scroll_end(animate=False, immediate=True)
            self.anchor()

    # Memory marker

    async def mark_memory_start(self, dropped: int) -> None:
        """Show where the model's memory of this chat begins (`dropped` messages before it)."""
        if dropped <= 0 or dropped == self._memory_start:
            return
        self._memory_start = dropped
        await self.query(".memory-marker").remove()
        if not self._start <= dropped < self._end:
            return
        target = self._messages[dropped].id
        for widget in self._message_widgets():
            if getattr(widget, "message_id", None) == target:
                await self.mount(memory_marker(), before=widget)
                break

    # Live messages

    async def add_user(self, text: str) -> UserMessage:
        """Show a new user turn."""
        await self.query(".empty-hint").remove()
        widget = UserMessage(text, show_time=self.timestamps)
        await self.mount(widget)
        return widget

    async def add_assistant(self, think_budget: int | None = None) -> AssistantMessage:
        """Show a reply that is about to stream, and follow it."""
        widget = AssistantMessage(
            thinking_mode=self.thinking_mode,
            streaming=True,
            think_budget=think_budget,
            show_time=self.timestamps,
        )
        await self.mount(widget)
        self.anchor()
        return widget

    def show_timestamps(self, show: bool) -> None:
        """Show when each message was written, or only on the focused one."""
        self.timestamps = show
        for widget in self.query_children(".user-message, .assistant-message"):
            if isinstance(widget, UserMessage | AssistantMessage):
                widget.set_time(show=show)

    def apply_mode(self, mode: ThinkingMode) -> None:
        """Show every reasoning block open, closed, or not at all."""
        self.thinking_mode = mode
        for message in self.query_children(AssistantMessage):
            message.apply_mode(mode)


def memory_marker() -> Static:
    """The quiet line above the oldest message the model still sees."""
    return Static(
        Content("── the model's memory of this chat begins here; older turns no longer fit ──"),
        classes="memory-marker",
    )
