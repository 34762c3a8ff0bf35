"""Provides `ConversationView`: the scrolling list of messages, rendered lazily from the end."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Button, Static

from r1chat.domain import Message
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage, Versions
from r1chat.ui.widgets.reasoning import ThinkingMode

PAGE = 20
"""Messages rendered at a time: a long conversation opens at its end, older pages on demand."""


class ConversationView(VerticalScroll):
    """The messages of one conversation; follows a streaming reply unless scrolled up."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._older: list[Message] = []
        self._versions: dict[str, Versions] = {}
        self.thinking_mode: ThinkingMode = "collapsed"

    def _widget_for(self, message: Message) -> Widget:
        if message.role == "assistant":
            return AssistantMessage.from_stored(
                message, self.thinking_mode, self._versions.get(message.id)
            )
        return UserMessage(message.content, message.id)

    async def show(
        self,
        messages: Sequence[Message],
        versions: dict[str, Versions] | None = None,
        empty_hint: str = "",
    ) -> None:
        """Replace what is shown with `messages` (only the newest page is rendered now)."""
        self._versions = versions or {}
        await self.remove_children()
        self._older = list(messages[:-PAGE]) if len(messages) > PAGE else []
        widgets: list[Widget] = [self._widget_for(m) for m in messages[-PAGE:]]
        if self._older:
            widgets.insert(0, self._more_button())
        if not messages and empty_hint:
            widgets.append(Static(Content(empty_hint), classes="empty-hint"))
        await self.mount_all(widgets)
        self.scroll_end(animate=False, immediate=True)
        self.anchor()

    def _more_button(self) -> Button:
        return Button(
            f"Show {min(PAGE, len(self._older))} earlier messages ({len(self._older)} more)",
            id="load-earlier",
            classes="load-earlier",
        )

    @on(Button.Pressed, "#load-earlier")
    async def load_earlier(self, event: Button.Pressed | None = None) -> None:
        """Render the next page of older messages above the ones shown."""
        if event is not None:
            event.stop()
        button = self.query("#load-earlier")
        page, self._older = self._older[-PAGE:], self._older[:-PAGE]
        widgets: list[Widget] = [self._widget_for(m) for m in page]
        first = self.query_children(".user-message, .assistant-message").first()
        await button.remove()
        await self.mount_all(widgets, before=first)
        if self._older:
            await self.mount(self._more_button(), before=widgets[0])

    async def add_user(self, text: str) -> UserMessage:
        """Show a new user turn."""
        await self.query(".empty-hint").remove()
        widget = UserMessage(text)
        await self.mount(widget)
        return widget

    async def add_assistant(self) -> AssistantMessage:
        """Show a reply that is about to stream, and follow it."""
        widget = AssistantMessage(thinking_mode=self.thinking_mode, streaming=True)
        await self.mount(widget)
        self.anchor()
        return widget

    def apply_mode(self, mode: ThinkingMode) -> None:
        """Show every reasoning block open, closed, or not at all."""
        self.thinking_mode = mode
        for message in self.query_children(AssistantMessage):
            message.apply_mode(mode)

    @property
    def hidden_count(self) -> int:
        """Older messages not rendered yet."""
        return len(self._older)
