"""Provides `ChatScreen`: sidebar, conversation, composer and status bar, and what ties them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from r1chat.domain import GenerationParams, Message
from r1chat.engine.base import Engine
from r1chat.engine.events import EngineEvent
from r1chat.errors import R1ChatError
from r1chat.session import FINISH_STATUS, ChatSession
from r1chat.store.chats import ChatStore
from r1chat.ui.links import offer_links
from r1chat.ui.reply_stream import ReplyDone, ReplyStream
from r1chat.ui.screens.dialogs import ConfirmScreen, TextPromptScreen
from r1chat.ui.widgets.composer import Composer
from r1chat.ui.widgets.conversation import ConversationView
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage, Versions
from r1chat.ui.widgets.reasoning import THINKING_MODES, ThinkingMode
from r1chat.ui.widgets.sidebar import Sidebar
from r1chat.ui.widgets.status import StatusBar

if TYPE_CHECKING:
    from r1chat.ui.app import R1ChatApp

NARROW = 80
"""Below this width the sidebar hides itself."""
EMPTY_HINT = (
    "Ask anything. Enter sends, Ctrl+J adds a line, Ctrl+T shows or hides thinking, "
    "F1 lists every key."
)

ReplyKind = Literal["reply", "regenerate", "edit"]


class ChatScreen(Screen[None]):
    """The main screen: one conversation at a time, with the saved ones in a sidebar."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "stop",
            "Stop",
            id="chat.stop",
            tooltip="Stop the reply (keeps what was written)",
        ),
        Binding(
            "ctrl+n", "new_chat", "New chat", id="chat.new", tooltip="Start a new conversation"
        ),
        Binding(
            "ctrl+t",
            "cycle_thinking",
            "Thinking",
            id="chat.thinking",
            tooltip="Show reasoning expanded, collapsed, or hide it (whole chat)",
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
            "ctrl+b",
            "toggle_sidebar",
            "Sidebar",
            id="chat.sidebar",
            tooltip="Show or hide the list of conversations",
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

    def __init__(
        self,
        store: ChatStore,
        engine_factory: Callable[[str], Engine],
        model: str | None,
        model_problem: str | None = None,
        *,
        params: GenerationParams,
        system_prompt: str = "",
        thinking_mode: ThinkingMode = "collapsed",
        open_conversation: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.engine_factory = engine_factory
        self.model = model
        self.model_problem = model_problem
        self.params = params
        self.system_prompt = system_prompt
        self.thinking_mode = thinking_mode
        self.open_conversation = open_conversation
        self.engine: Engine | None = None
        self.session = self._new_session()
        self.drafts: dict[str | None, str] = {}
        self.editing = False
        self.sidebar_wanted = True
        self._cancel = threading.Event()
        self._stream: ReplyStream | None = None

    @property
    def r1app(self) -> R1ChatApp:
        from r1chat.ui.app import R1ChatApp

        assert isinstance(self.app, R1ChatApp)
        return self.app

    def _new_session(self) -> ChatSession:
        return ChatSession(
            self.engine,  # type: ignore[arg-type]  # set before any reply is sent
            params=self.params,
            system_prompt=self.system_prompt,
            store=self.store,
            on_save_error=self._save_failed,
        )

    def _save_failed(self, message: str) -> None:
        # Called on the generation thread.
        self.app.call_from_thread(self.notify, message, severity="error", timeout=10)

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield Sidebar(id="sidebar")
            with Vertical(id="chat"):
                yield ConversationView(id="conversation")
                yield Composer(id="composer")
        yield StatusBar(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        self.conversation.thinking_mode = self.thinking_mode
        self.refresh_sidebar()
        if self.open_conversation:
            await self.open(self.open_conversation)
        else:
            await self.conversation.show([], empty_hint=EMPTY_HINT)
        self.composer.focus()
        self._apply_width()
        if self.model is None:
            self.status.state = "no model"
            self.status.model = "no model"
            if self.model_problem:
                self.notify(self.model_problem, severity="error", timeout=15)
        else:
            self.load_model(self.model)

    # Parts

    @property
    def conversation(self) -> ConversationView:
        return self.query_one(ConversationView)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    @property
    def generating(self) -> bool:
        return self._stream is not None

    # The model

    def load_model(self, model: str) -> None:
        """Load `model` in the background; the screen stays usable meanwhile."""
        self.status.state = "loading model"
        self.status.model = Path(model).name
        self.status.backend = ""
        self._load_engine(model)

    @work(thread=True, exclusive=True, group="model", exit_on_error=False)
    def _load_engine(self, model: str) -> Engine:
        return self.engine_factory(model)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group == "model":
            if event.state == WorkerState.SUCCESS and worker.result is not None:
                self._engine_ready(worker.result)
            elif event.state == WorkerState.ERROR:
                error = worker.error
                message = (
                    str(error)
                    if isinstance(error, R1ChatError)
                    else f"{type(error).__name__}: {error}"
                )
                self.status.state = "model failed"
                self.notify(message, title="The model did not load", severity="error", timeout=20)
        elif (
            worker.group == "generation"
            and event.state == WorkerState.ERROR
            and self._stream is not None
        ):
            self._stream.events.append(ReplyDone(None, str(worker.error)))

    def _engine_ready(self, engine: Engine) -> None:
        old, self.engine = self.engine, engine
        if old is not None and old is not engine:
            old.close()
        self.session.engine = engine
        info = engine.info
        self.status.model = info.model_name
        self.status.backend = info.backend
        self.status.n_ctx = info.n_ctx
        self.status.state = "idle"

    def switch_model(self, model: str) -> None:
        """Load another model (the current one stays until the new one is ready)."""
        if self.generating:
            self.notify("Stop the reply first (Esc), then switch models.", severity="warning")
            return
        self.model = model
        self.load_model(model)

    # Conversations

    def refresh_sidebar(self) -> None:
        conversations = self.store.list_conversations(limit=500, title=self.sidebar.filter_text)
        self.sidebar.show(conversations, self.session.conversation_id)

    @on(Sidebar.FilterChanged)
    def _filter_changed(self) -> None:
        self.refresh_sidebar()

    @on(Sidebar.Opened)
    async def _opened(self, event: Sidebar.Opened) -> None:
        await self.open(event.conversation_id)
        self.composer.focus()

    async def open(self, conversation_id: str, leaf_id: str | None = None) -> None:
        """Show a saved conversation (its newest branch, or the one ending at `leaf_id`)."""
        if self.generating:
            self.notify("Stop the reply first (Esc).", severity="warning")
            return
        self._keep_draft()
        conversation = self.store.conversation(conversation_id, messages=False)
        branch = self.store.branch(conversation.id, leaf_id)
        session = self._new_session()
        session.conversation_id = conversation.id
        session.load_branch(branch)
        self.session = session
        self.editing = False
        await self.conversation.show(branch, self._versions(conversation.id))
        self.composer.text = self.drafts.get(conversation.id, "")
        self._context_from(branch)
        self.sub_title = conversation.title
        self.refresh_sidebar()

    def _versions(self, conversation_id: str) -> dict[str, Versions]:
        groups: dict[tuple[str | None, str], list[str]] = {}
        for message in self.store.all_messages(conversation_id):
            groups.setdefault((message.parent_id, message.role), []).append(message.id)
        return {
            mid: Versions(index, len(ids))
            for ids in groups.values()
            if len(ids) > 1
            for index, mid in enumerate(ids)
        }

    def _context_from(self, branch: list[Message]) -> None:
        for message in reversed(branch):
            if message.stats:
                stats = message.stats
                self.status.context_used = int(
                    (stats.get("prompt_tokens") or 0)
                    + (stats.get("reasoning_tokens") or 0)
                    + (stats.get("answer_tokens") or 0)
                )
                self.status.tokens_per_second = stats.get("tokens_per_second")
                return
        self.status.context_used = 0
        self.status.tokens_per_second = None

    def _keep_draft(self) -> None:
        self.drafts[self.session.conversation_id] = self.composer.text

    async def action_new_chat(self) -> None:
        if self.generating:
            self.notify("Stop the reply first (Esc).", severity="warning")
            return
        self._keep_draft()
        self.session = self._new_session()
        self.editing = False
        await self.conversation.show([], empty_hint=EMPTY_HINT)
        self.composer.text = self.drafts.get(None, "")
        self.status.context_used = 0
        self.status.tokens_per_second = None
        self.sub_title = ""
        self.refresh_sidebar()
        self.composer.focus()

    @on(Sidebar.RenameRequested)
    def _rename(self, event: Sidebar.RenameRequested) -> None:
        conversation = self.store.conversation(event.conversation_id, messages=False)

        def done(title: str | None) -> None:
            if title:
                self.store.rename(conversation.id, title)
                if conversation.id == self.session.conversation_id:
                    self.sub_title = title
                self.refresh_sidebar()

        self.app.push_screen(TextPromptScreen("New title", conversation.title), done)

    @on(Sidebar.DeleteRequested)
    def _delete_conversation(self, event: Sidebar.DeleteRequested) -> None:
        conversation = self.store.conversation(event.conversation_id, messages=False)

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            if conversation.id == self.session.conversation_id:
                if self.generating:
                    self.notify("Stop the reply first (Esc).", severity="warning")
                    return
                await self.action_new_chat()
            self.store.delete(conversation.id)
            self.refresh_sidebar()
            self.notify("Conversation deleted.")

        question = (
            f"Delete '{conversation.title or 'New chat'}' ({conversation.message_count} messages)?"
        )
        self.app.push_screen(ConfirmScreen(question, confirm="Delete"), done)

    # Sending and streaming

    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        kind: ReplyKind = "edit" if self.editing else "reply"
        await self.start_reply(kind, event.text)

    async def start_reply(self, kind: ReplyKind, text: str = "") -> None:
        """Send, regenerate or resend; the reply streams into a new message."""
        if self.generating:
            self.notify("r1chat is still answering; Esc stops it.", severity="warning")
            return
        if self.engine is None:
            state = self.status.state
            why = (
                "The model is still loading; your message is kept."
                if state == "loading model"
                else ("No model is loaded; pick one with Ctrl+P → Switch model.")
            )
            self.notify(why, severity="warning")
            return
        self._cancel = threading.Event()
        try:
            if kind == "reply":
                events = self.session.reply(text, self._cancel)
            elif kind == "edit":
                events = self.session.edit_last(text, self._cancel)
            else:
                events = self.session.regenerate(self._cancel)
        except R1ChatError as error:
            self.notify(str(error), severity="error", timeout=10)
            return
        if kind != "regenerate":
            self.composer.text = ""
            self.drafts.pop(self.session.conversation_id, None)
        if kind == "edit":
            await self._drop_after_last_user(include_user=True)
            await self.conversation.add_user(text)
        elif kind == "reply":
            await self.conversation.add_user(text)
        else:
            await self._drop_after_last_user(include_user=False)
        self.editing = False
        widget = await self.conversation.add_assistant()
        self._stream = ReplyStream(
            widget, self.set_timer, self._set_state, self._set_speed, self._finish
        )
        self._stream.start()
        self._run_reply(self._stream, events)

    def _set_state(self, state: str) -> None:
        self.status.state = state

    def _set_speed(self, tokens_per_second: float | None) -> None:
        self.status.tokens_per_second = tokens_per_second

    async def _drop_after_last_user(self, include_user: bool) -> None:
        children = list(self.conversation.query_children(".user-message, .assistant-message"))
        last_user = max(
            (i for i, w in enumerate(children) if isinstance(w, UserMessage)), default=None
        )
        if last_user is None:
            return
        start = last_user if include_user else last_user + 1
        for widget in children[start:]:
            await widget.remove()

    @work(thread=True, exclusive=True, group="generation", exit_on_error=False)
    def _run_reply(self, stream: ReplyStream, events: Iterator[EngineEvent]) -> None:
        # Runs on a worker thread: it only fills the queue; the stream drains it on a timer.
        queue = stream.events
        for event in events:
            queue.append(event)
        queue.append(ReplyDone(self.session.last_reply))

    async def _finish(self, widget: AssistantMessage, done: ReplyDone) -> None:
        self._stream = None
        reply = done.reply
        stats = reply.stats if reply else None
        message_id = reply.message_id if reply else None
        versions = None
        if message_id is not None:
            siblings = [m.id for m in self.store.versions(message_id)]
            if len(siblings) > 1:
                versions = Versions(siblings.index(message_id), len(siblings))
        await widget.finish(
            FINISH_STATUS[stats.finish_reason] if stats else "error",
            stats.to_dict() if stats else None,
            message_id,
            versions,
        )
        self.status.state = "idle"
        if stats is not None:
            self.status.context_used = stats.prompt_tokens + stats.completion_tokens
            self.status.tokens_per_second = stats.tokens_per_second
        error = done.error or (stats.error if stats else None)
        if error:
            self.notify(error, title="The reply failed", severity="error", timeout=15)
        if self.session.conversation_id:
            conversation = self.store.conversation(self.session.conversation_id, messages=False)
            self.sub_title = conversation.title
        self.refresh_sidebar()

    def action_stop(self) -> None:
        if self.generating:
            self._cancel.set()
        elif self.editing:
            self.editing = False
            self.composer.text = self.drafts.get(self.session.conversation_id, "")
            self.notify("Edit cancelled.")

    async def stop_and_wait(self) -> None:
        """Stop any reply and wait until it is saved (used when quitting)."""
        if self.generating:
            self._cancel.set()
            for worker in self.workers:
                if worker.group == "generation":
                    await worker.wait()
            while self._stream is not None:
                await self._stream.flush()

    async def action_regenerate(self) -> None:
        await self.start_reply("regenerate")

    @on(Composer.EditLastRequested)
    def _edit_last_from_composer(self) -> None:
        self.action_edit_last()

    def action_edit_last(self) -> None:
        if self.generating:
            return
        last = next((m for m in reversed(self.session.messages) if m.role == "user"), None)
        if last is None:
            self.notify("There is no message to edit yet.", severity="warning")
            return
        self._keep_draft()
        self.editing = True
        self.composer.text = last.content
        self.composer.focus()
        self.notify("Editing your last message: Enter resends it, Esc cancels.")

    def action_copy_last(self) -> None:
        last = next((m for m in reversed(self.session.messages) if m.role == "assistant"), None)
        if last is None:
            self.notify("There is no answer to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(last.content)
        self.notify("Answer copied to the clipboard.")

    # Thinking view

    def action_cycle_thinking(self) -> None:
        index = THINKING_MODES.index(self.thinking_mode)
        self.set_thinking_mode(THINKING_MODES[(index + 1) % len(THINKING_MODES)])

    def set_thinking_mode(self, mode: ThinkingMode) -> None:
        """Apply a thinking mode to the whole conversation and remember it."""
        self.thinking_mode = mode
        self.conversation.apply_mode(mode)
        self.r1app.remember("thinking", mode)
        self.notify(f"Reasoning: {mode}.", timeout=2)

    # Messages: versions, deletion, links

    @on(AssistantMessage.VersionRequested)
    async def _version(self, event: AssistantMessage.VersionRequested) -> None:
        message_id = event.message.message_id
        if self.generating or message_id is None or self.session.conversation_id is None:
            return
        versions = self.store.versions(message_id)
        ids = [m.id for m in versions]
        if len(ids) < 2:
            self.notify("This answer has only one version; Ctrl+R makes another.", timeout=4)
            return
        index = ids.index(message_id) + event.step
        if not 0 <= index < len(ids):
            return
        leaf = self.store.newest_leaf(ids[index])
        await self.open(self.session.conversation_id, leaf)
        for widget in self.conversation.query(AssistantMessage):
            if widget.message_id == ids[index]:
                widget.focus()

    @on(AssistantMessage.DeleteRequested)
    def _delete_message(self, event: AssistantMessage.DeleteRequested) -> None:
        message_id = event.message.message_id
        if self.generating or message_id is None or self.session.conversation_id is None:
            return
        conversation_id = self.session.conversation_id

        async def done(yes: bool | None) -> None:
            if yes:
                self.store.delete_message(message_id)
                await self.open(conversation_id)
                self.notify("Message deleted.")

        self.app.push_screen(
            ConfirmScreen("Delete this answer and everything after it?", confirm="Delete"), done
        )

    @on(AssistantMessage.LinkRequested)
    def _links(self, event: AssistantMessage.LinkRequested) -> None:
        offer_links(self.app, event.urls)

    # Layout

    def action_toggle_sidebar(self) -> None:
        self.sidebar_wanted = not self.sidebar.display
        self.sidebar.display = self.sidebar_wanted

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

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action == "stop":
            return True
        if action in ("regenerate", "edit_last"):
            return None if self.generating else True
        return True
