"""Provides `ChatScreen`: sidebar, conversation, composer and status bar, and what ties them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from r1chat.core.events import Engine
from r1chat.errors import R1ChatError
from r1chat.ui.reply_stream import ReplyDone
from r1chat.ui.screens.chat_base import (
    NARROW,
)
from r1chat.ui.screens.chat_conversations import ConversationActions
from r1chat.ui.screens.chat_draft import DraftActions
from r1chat.ui.screens.chat_exports import ReplyExports
from r1chat.ui.screens.chat_meter import ContextMeter
from r1chat.ui.screens.chat_model import ModelLoading
from r1chat.ui.screens.chat_options import ChatOptionsActions
from r1chat.ui.screens.chat_reply import ReplyFollowing
from r1chat.ui.widgets.composer import Composer
from r1chat.ui.widgets.conversation import ConversationView
from r1chat.ui.widgets.keys_footer import KeysFooter
from r1chat.ui.widgets.sidebar import Sidebar
from r1chat.ui.widgets.status import StatusBar

if TYPE_CHECKING:
    pass

FOOTER_FIRST = ("chat.help", "app.quit")
"""Shown first in the footer whatever has focus, so a narrow terminal keeps them."""


class ChatScreen(
    ReplyFollowing,
    ConversationActions,
    ModelLoading,
    ContextMeter,
    ChatOptionsActions,
    ReplyExports,
    DraftActions,
):
    """The main screen: one conversation at a time, with the saved ones in a sidebar."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # First, so the footer keeps it however narrow the terminal is.
        Binding("f1", "app.help", "Help", id="chat.help", tooltip="List every key"),
        Binding(
            "escape",
            "stop",
            "Stop",
            id="chat.stop",
            tooltip="Stop the reply (keeps what was written)",
        ),
        Binding(
            "ctrl+o",
            "answer_now",
            "Answer now",
            id="chat.answer_now",
            tooltip="End the reasoning and answer from what the model has thought so far",
        ),
        Binding(
            "ctrl+n", "new_chat", "New chat", id="chat.new", tooltip="Start a new conversation"
        ),
        Binding(
            "ctrl+f",
            "search",
            "Search",
            id="chat.search",
            tooltip="Search every chat, as you type (thinking too, with its switch)",
        ),
        Binding(
            "f4",
            "stats",
            "Usage",
            id="chat.stats",
            show=False,
            tooltip="Tokens, speed and the API bill not paid, over time",
        ),
        Binding(
            "f3",
            "memory",
            "Memory",
            id="chat.memory",
            show=False,
            tooltip="What r1chat remembers about you: add, edit, switch off, delete",
        ),
        Binding(
            "ctrl+t",
            "cycle_thinking",
            "Thinking",
            id="chat.thinking",
            tooltip="Show thinking expanded, collapsed, or hide it (whole chat)",
        ),
        Binding(
            "ctrl+r",
            "regenerate",
            "Regenerate",
            id="chat.regenerate",
            tooltip="Answer the last message again (the old answer stays as a version)",
        ),
        Binding(
            "ctrl+up",
            "edit_last",
            "Edit last",
            id="chat.edit",
            show=False,
            tooltip="Edit your last message and send it again (or Up in an empty message box)",
        ),
        Binding(
            "ctrl+g",
            "continue_reply",
            "Think on",
            id="chat.continue",
            show=False,
            tooltip="Let a reply that stopped while reasoning think on from where it stopped",
        ),
        Binding(
            "f2",
            "chat_settings",
            "Chat settings",
            id="chat.settings",
            tooltip="Model, system prompt and sampling for this chat",
        ),
        Binding(
            "ctrl+b",
            "toggle_sidebar",
            "Sidebar",
            id="chat.sidebar",
            tooltip="Show or hide the list of conversations",
        ),
        Binding(
            "f8",
            "edit_in_editor",
            "Editor",
            id="chat.editor",
            show=False,
            tooltip="Write the message in your editor ($VISUAL or $EDITOR); save and quit "
            "to bring it back",
        ),
        Binding(
            "f9",
            "clear_draft",
            "Clear",
            id="chat.clear_draft",
            show=False,
            tooltip="Empty the message box (Ctrl+Z brings the text back)",
        ),
        Binding(
            "ctrl+l",
            "focus_composer",
            "Message",
            id="chat.composer",
            show=False,
            tooltip="Move to the message box",
        ),
        Binding(
            "ctrl+s",
            "focus_sidebar",
            "Chats",
            id="chat.chats",
            show=False,
            tooltip="Move to the list of conversations",
        ),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Sidebar(id="sidebar")
            with Vertical(id="chat"):
                yield ConversationView(id="conversation")
                yield Composer(id="composer")
        yield StatusBar(id="status")
        yield KeysFooter()

    async def on_mount(self) -> None:
        self.conversation.thinking_mode = self.thinking_mode
        self.conversation.timestamps = bool(self.r1app.ui_settings.get("timestamps", False))
        self.refresh_sidebar()
        if self.r1app.welcome_source is not None and not self.r1app.welcome:
            self.call_after_refresh(self._welcome, self.r1app.welcome_source)
        self.composer.focus()
        self._apply_width()
        if self.open_conversation:
            if self.model is not None:  # until the chat is open and says which model it runs
                self.show_loading(self.model)
            self.open(self.open_conversation, first=True)
            return
        await self.conversation.show([], empty_hint=self.empty_hint)
        if self.model is None:
            self.status.state = "no model"
            self.status.model = "no model"
            if self.model_problem:
                self.notify(self.model_problem, severity="error", timeout=15)
        else:
            self.load_model(self.model, drawn_first=True)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "model" and event.state == WorkerState.SUCCESS:
            if isinstance(worker.result, Engine):
                self._engine_ready(worker.result)
            return
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        message = (
            str(error) if isinstance(error, R1ChatError) else f"{type(error).__name__}: {error}"
        )
        if worker.group == "model":
            self.status.state = "model failed"
            self.notify(message, title="The model did not load", severity="error", timeout=20)
        elif worker.group == "generation":
            if self._stream is not None:
                self._stream.events.append(ReplyDone(None, message))
        elif worker.group != "measure":  # a stale context estimate is not worth a notice
            self.notify(message, severity="error", timeout=10)

    @work(group="welcome", exit_on_error=False, description="find what to welcome with")
    async def _welcome(self, source: Callable[[], str]) -> None:
        self.r1app.welcome = await self._io(source)
        for hint in self.conversation.query(".empty-hint"):  # a chat still empty says it now
            if isinstance(hint, Static):
                hint.update(Content(self.empty_hint))

    def action_stats(self) -> None:
        from r1chat.ui.screens.stats import StatsScreen

        self.app.push_screen(StatsScreen(self.service))

    def action_memory(self) -> None:
        from r1chat.ui.screens.memory import MemoryScreen

        self.app.push_screen(MemoryScreen(self.service, on_change=self.memory_changed))

    def action_toggle_sidebar(self) -> None:
        self.sidebar_wanted = not self.sidebar.display
        self.sidebar.display = self.sidebar_wanted

    def action_toggle_timestamps(self) -> None:
        """Show when every message was written, or only on the focused one (remembered)."""
        show = not self.conversation.timestamps
        self.conversation.show_timestamps(show)
        self.r1app.remember("timestamps", show)
        self.notify(
            "Every message shows when it was written."
            if show
            else "Only the focused message shows when it was written."
        )

    def action_focus_composer(self) -> None:
        self.composer.focus()

    def action_focus_sidebar(self) -> None:
        if not self.sidebar.display:
            self.sidebar.display = True
        self.sidebar.query_one("#sidebar-list").focus()

    def on_resize(self) -> None:
        self._apply_width()

    def _apply_width(self) -> None:
        self.sidebar.display = self.sidebar_wanted and self.size.width >= NARROW
        self.set_class(self.size.width < NARROW, "-narrow")  # code wraps (see answer.py)

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """Textual's bindings, Help and Quit first: the footer lists them in this order
        (a focused message's own keys would otherwise push Quit off an 80-column one)."""
        bindings = super().active_bindings
        first = {
            key: active
            for key, active in bindings.items()
            if active.binding.id in FOOTER_FIRST and active.binding.show
        }
        return {
            **dict(sorted(first.items(), key=lambda i: FOOTER_FIRST.index(str(i[1].binding.id)))),
            **bindings,
        }

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action == "stop":
            return True
        if action == "answer_now":  # in the footer only while the model reasons
            return self.reasoning_now
        if action in ("regenerate", "edit_last", "continue_reply", "chat_settings"):
            return None if self.generating else True
        return True
