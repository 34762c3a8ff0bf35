"""Provides `ReplyExports`: copying and exporting a reply, and opening its links."""

from __future__ import annotations

from pathlib import Path

from textual import on, work

from r1chat.files import write_private
from r1chat.text import reply_markdown
from r1chat.ui.screens.chat_base import (
    ChatScreenBase,
)
from r1chat.ui.screens.dialogs import TextPromptScreen
from r1chat.ui.screens.links import offer_links
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage
from r1chat.ui.widgets.reasoning import CUT_WORDS


class ReplyExports(ChatScreenBase):
    """Copying and exporting a reply, and opening its links."""

    @on(AssistantMessage.LinkRequested)
    def _links(self, event: AssistantMessage.LinkRequested) -> None:
        offer_links(self.app, event.urls)

    def _reply_widget(self) -> AssistantMessage | None:
        """The reply with focus, or else the newest one."""
        focused = self.app.focused
        if isinstance(focused, AssistantMessage):
            return focused
        replies = self.conversation.query(AssistantMessage)
        return replies.last() if replies else None

    def action_copy_reasoning(self) -> None:
        widget = self._reply_widget()
        if widget is None:
            self.notify("There is no reply yet.", severity="warning")
            return
        widget.action_copy_reasoning()

    def action_export_reply(self) -> None:
        widget = self._reply_widget()
        if widget is None:
            self.notify("There is no reply to export yet.", severity="warning")
            return
        self._ask_export(widget)

    @on(AssistantMessage.ExportRequested)
    def _export_requested(self, event: AssistantMessage.ExportRequested) -> None:
        self._ask_export(event.message)

    def _ask_export(self, widget: AssistantMessage) -> None:
        name = f"r1chat-reply-{(widget.message_id or 'new')[:8]}.md"
        question = self._question_of(widget)
        model = self.engine.info.model_name if self.engine else "unknown model"
        cut = widget.stats.get("reasoning_cut")
        note = f"reasoning {CUT_WORDS[cut]}" if cut in CUT_WORDS else ""
        text = reply_markdown(question, widget.answer, widget.reasoning, model, note)

        def chosen(path: str | None) -> None:
            if path:
                self._export_now(Path(path).expanduser(), text)

        self.app.push_screen(
            TextPromptScreen("Save this reply as Markdown to:", str(Path.home() / name)), chosen
        )

    def _question_of(self, widget: AssistantMessage) -> str:
        """The user's message this reply answers (from the branch on screen)."""
        before = ""
        for child in self.conversation.query_children(".user-message, .assistant-message"):
            if child is widget:
                return before
            if isinstance(child, UserMessage):
                before = child.text
        return before

    @work(group="export", exit_on_error=False, description="export a reply")
    async def _export_now(self, path: Path, text: str) -> None:
        if path.exists():
            self.notify(
                f"{path} already exists; give another name (nothing was overwritten).",
                severity="warning",
            )
            return
        try:
            await self._io(write_private, path, text)
        except OSError as error:
            self.notify(f"Cannot write {path} ({error.strerror}).", severity="error")
            return
        self.notify(f"Reply saved to {path}.")
