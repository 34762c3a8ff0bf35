"""Provides `ChatScreen`: sidebar, conversation, composer and status bar, and what ties them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static, TextArea
from textual.worker import Worker, WorkerState

from r1chat.core.events import Engine, PromptPlan, ReplyControl
from r1chat.core.prices import money
from r1chat.core.service import FINISH_STATUS, ChatOptions, ChatService, ChatSession, OpenedChat
from r1chat.domain import Conversation
from r1chat.errors import R1ChatError
from r1chat.files import write_private
from r1chat.text import reply_markdown, terminal_safe
from r1chat.ui import timing
from r1chat.ui.host import AppHost
from r1chat.ui.reply_stream import ReplyDone, ReplyStream
from r1chat.ui.screens.dialogs import ConfirmScreen, TextPromptScreen
from r1chat.ui.screens.links import offer_links
from r1chat.ui.widgets.composer import Composer
from r1chat.ui.widgets.conversation import ConversationView
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage, VersionRequested, Versions
from r1chat.ui.widgets.reasoning import CUT_WORDS, THINKING_MODES, ThinkingMode
from r1chat.ui.widgets.sidebar import Sidebar
from r1chat.ui.widgets.status import StatusBar

if TYPE_CHECKING:
    from r1chat.ui.screens.settings import ChatSettingsChoice

NARROW = 80
"""Below this width the sidebar hides itself."""
REMEMBER = "/remember"
"""Typed first in the message box: what follows becomes a memory fact."""
EMPTY_HINT = (
    "Ask anything. Enter sends, Ctrl+J adds a line, Ctrl+T shows or hides thinking, "
    "F1 lists every key."
)

ReplyKind = Literal["reply", "regenerate", "edit", "continue"]
MEASURE_DELAY = 0.3
"""Seconds after the last keystroke before the next prompt is sized again."""
T = TypeVar("T")


class ChatScreen(Screen[None]):
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
        service: ChatService,
        *,
        thinking_mode: ThinkingMode = "collapsed",
        open_conversation: str | None = None,
        model: str | None = None,
        model_explicit: bool = False,
        model_problem: str | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.thinking_mode = thinking_mode
        self.open_conversation = open_conversation
        self.model = model
        """The model new chats start with."""
        self.model_explicit = model_explicit
        self.model_problem = model_problem
        self.options = service.options_for(None, {"model": model})
        self.session = service.session(self.options, on_save_error=self._save_failed)
        self.drafts: dict[str | None, str] = {}
        self.conversations: dict[str, Conversation] = {}
        """The chats listed in the sidebar, by id."""
        self.editing = False
        self.sidebar_wanted = True
        self._cancel = ReplyControl()
        self._stream: ReplyStream | None = None
        self._measure_timer: Timer | None = None
        self._engine: Engine | None = None
        self._memory_warned: tuple[int, int] = (0, 0)

    @property
    def r1app(self) -> AppHost:
        """The app, as far as this screen needs it (`R1ChatApp` in practice)."""
        return cast("AppHost", self.app)

    @property
    def engine(self) -> Engine | None:
        """The engine the screen shows and sends to (`None` until a model has loaded).

        It changes on the UI thread when a load ends, so the status bar and what is
        sent never disagree about the model.
        """
        return self._engine

    def _save_failed(self, message: str) -> None:
        # Called on the generation thread, or on the UI thread: `notify` is safe on both.
        self.app.notify(message, severity="error", timeout=10)

    async def _io(self, call: Callable[..., T], *args: Any) -> T:
        """Run a blocking service call on a thread; the event loop keeps drawing."""
        return await asyncio.to_thread(call, *args)

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
        if self.r1app.welcome_source is not None and not self.r1app.welcome:
            self._welcome(self.r1app.welcome_source)
        self.composer.focus()
        self._apply_width()
        if self.open_conversation:
            self.open(self.open_conversation, first=True)
            return
        await self.conversation.show([], empty_hint=self.empty_hint)
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

    def load_model(self, model: str, n_ctx: int | None = None) -> None:
        """Load `model` in the background; the screen stays usable meanwhile."""
        self.status.state = "loading model"
        self.status.model = Path(model).name
        self.status.backend = ""
        self._load_engine(model, n_ctx)

    @work(
        thread=True, exclusive=True, group="model", exit_on_error=False, description="load a model"
    )
    def _load_engine(self, model: str, n_ctx: int | None) -> Engine:
        return self.service.load_model(model, n_ctx)

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

    def _engine_ready(self, engine: Engine) -> None:
        self._engine = engine
        self.session.engine = engine
        info = engine.info
        self.status.model = info.model_name
        self.status.backend = info.backend_label
        self.status.n_ctx = info.n_ctx
        self.status.state = "idle"
        self.measure_soon(0)
        warning = getattr(engine, "warning", None)  # a remote over plain http, said once
        for sentence in (warning, info.notice):
            if sentence:
                self.notify(sentence, severity="warning", timeout=20)
        timing.model_ready(getattr(engine, "threads", None))

    def switch_model(self, model: str) -> None:
        """Run this chat on `model` from now on (saved with the chat)."""
        if self.generating:

            def answered(yes: bool | None) -> None:
                if yes:
                    self._switch_after_stop(model)

            self.app.push_screen(
                ConfirmScreen(
                    f"Stop the reply and switch to {Path(model).name}?", confirm="Stop and switch"
                ),
                answered,
            )
            return
        self._switch(model)

    @work(
        group="switch",
        exclusive=True,
        exit_on_error=False,
        description="stop the reply, then switch model",
    )
    async def _switch_after_stop(self, model: str) -> None:
        self._cancel.set()
        while self._stream is not None:  # the reply ends within a token, then it is saved
            await asyncio.sleep(0.02)
        self._switch(model)

    def _switch(self, model: str) -> None:
        self.model = model
        self.options = ChatOptions(model, None, self.session.params, self.session.system_prompt)
        self.load_model(model)
        self._record_after_load()

    @work(group="record", exclusive=True, exit_on_error=False, description="save the chat's model")
    async def _record_after_load(self) -> None:
        for worker in list(self.workers):
            if worker.group == "model":
                await worker.wait()
        if self.session.conversation_id is not None:
            await self._io(self.service.record_settings, self.session)
            self.refresh_sidebar()

    # Conversations

    @work(group="sidebar", exclusive=True, exit_on_error=False, description="list the chats")
    async def refresh_sidebar(self) -> None:
        """List the saved chats again (in the background)."""
        conversations = await self._io(self.service.list_conversations, self.sidebar.filter_text)
        self.conversations = {c.id: c for c in conversations}
        self.sidebar.show(conversations, self.session.conversation_id, self.sidebar.filter_text)

    @on(Sidebar.FilterChanged)
    def _filter_changed(self) -> None:
        self.refresh_sidebar()

    @on(Sidebar.Opened)
    def _opened(self, event: Sidebar.Opened) -> None:
        self.open(event.conversation_id)
        self.composer.focus()

    @work(group="open", exclusive=True, exit_on_error=False, description="open a chat")
    async def open(
        self,
        conversation_id: str,
        leaf_id: str | None = None,
        *,
        first: bool = False,
        at_message: str | None = None,
    ) -> None:
        """Show a saved conversation (its current branch, or the one through `leaf_id`),
        scrolled to `at_message` if given."""
        if self.generating:
            self.notify("Stop the reply first (Esc).", severity="warning")
            return
        opened = await self._io(self.service.open, conversation_id, leaf_id)
        await self._show(opened, first=first)
        if at_message is not None and not await self.conversation.jump_to(at_message):
            self.notify("That match is in another version of this chat.", timeout=5)

    def action_search(self) -> None:
        from r1chat.ui.screens.search import SearchScreen

        def chosen(hit: tuple[str, str | None] | None) -> None:
            if hit is not None:
                self.open(hit[0], at_message=hit[1])

        self.app.push_screen(SearchScreen(self.service), chosen)

    async def _show(self, opened: OpenedChat, *, first: bool = False) -> None:
        self._keep_draft()
        conversation = opened.conversation
        explicit: dict[str, Any] = {"model": self.model} if first and self.model_explicit else {}
        if first:
            explicit.update(self.r1app.thinking_explicit)
        options = self.service.options_for(conversation, explicit, self.model)
        self.session = await self._io(  # a long branch takes a while to turn into turns
            self.service.session, options, conversation.id, opened.branch, self._save_failed
        )
        self.options = options
        self.editing = False
        versions = {mid: Versions(*where) for mid, where in opened.versions.items()}
        await self.conversation.show(opened.branch, versions)
        self.composer.text = self.drafts.get(conversation.id, "")
        self.sub_title = conversation.title
        self.refresh_sidebar()
        if options.notice:
            self.notify(options.notice, severity="warning", timeout=12)
        if options.model is None:
            self.status.state = "no model"
            if self.model_problem:
                self.notify(self.model_problem, severity="error", timeout=15)
        elif self.service.needs_load(options) or (first and self.engine is None):
            self.load_model(options.model, options.n_ctx)
        self.measure_soon(0)

    def _keep_draft(self) -> None:
        self.drafts[self.session.conversation_id] = self.composer.text

    async def action_new_chat(self) -> None:
        if self.generating:
            self.notify("Stop the reply first (Esc).", severity="warning")
            return
        self._keep_draft()
        self.options = self.service.options_for(None, {"model": self.model})
        self.session = self.service.session(self.options, on_save_error=self._save_failed)
        self.editing = False
        await self.conversation.show([], empty_hint=self.empty_hint)
        self.composer.text = self.drafts.get(None, "")
        self.status.tokens_per_second = None
        self.sub_title = ""
        self.refresh_sidebar()
        self.composer.focus()
        if self.model is not None and self.service.needs_load(self.options):
            self.load_model(self.model)
        self.measure_soon(0)

    @on(Sidebar.RenameRequested)
    def _rename(self, event: Sidebar.RenameRequested) -> None:
        conversation_id = event.conversation_id
        known = self.conversations.get(conversation_id)

        def done(title: str | None) -> None:
            if title:
                self._rename_to(conversation_id, title)

        current = known.title if known else ""
        self.app.push_screen(TextPromptScreen("New title", current), done)

    @work(group="rename", exit_on_error=False, description="rename a chat")
    async def _rename_to(self, conversation_id: str, title: str) -> None:
        saved = await self._io(self.service.rename, conversation_id, title)
        if conversation_id == self.session.conversation_id:
            self.sub_title = saved
        self.refresh_sidebar()

    @on(Sidebar.DeleteRequested)
    def _delete_conversation(self, event: Sidebar.DeleteRequested) -> None:
        conversation_id = event.conversation_id
        known = self.conversations.get(conversation_id)

        async def done(yes: bool | None) -> None:
            if not yes:
                return
            if conversation_id == self.session.conversation_id:
                if self.generating:
                    self.notify("Stop the reply first (Esc).", severity="warning")
                    return
                await self.action_new_chat()
            self._delete_chat(conversation_id)

        title = known.title if known and known.title else "New chat"
        count = f" ({known.message_count} messages)" if known else ""
        self.app.push_screen(ConfirmScreen(f"Delete '{title}'{count}?", confirm="Delete"), done)

    @work(group="delete", exit_on_error=False, description="delete a chat")
    async def _delete_chat(self, conversation_id: str) -> None:
        await self._io(self.service.delete, conversation_id)
        self.refresh_sidebar()
        self.notify("Conversation deleted.")

    # Sending and streaming

    @on(Composer.Submitted)
    async def _submitted(self, event: Composer.Submitted) -> None:
        command, _, rest = event.text.strip().partition(" ")
        if command == REMEMBER and not self.editing:
            self._remember(rest)
            return
        kind: ReplyKind = "edit" if self.editing else "reply"
        await self.start_reply(kind, event.text)

    @work(group="memory", exit_on_error=False, description="remember a fact")
    async def _remember(self, text: str) -> None:
        """`/remember TEXT`: a memory fact for every chat from now on."""
        if not text.strip():
            self.notify(f"Write what to remember after {REMEMBER}.", severity="warning")
            return
        try:
            fact = await self._io(self.service.remember, text)
        except R1ChatError as error:
            self.notify(str(error), severity="error")
            return
        self.composer.text = ""
        await self.memory_changed()
        self.notify(f"Remembered (fact {fact.id}): {fact.text}", timeout=5)

    @work(group="welcome", exit_on_error=False, description="find what to welcome with")
    async def _welcome(self, source: Callable[[], str]) -> None:
        self.r1app.welcome = await self._io(source)
        for hint in self.conversation.query(".empty-hint"):  # a chat still empty says it now
            if isinstance(hint, Static):
                hint.update(Content(self.empty_hint))

    @property
    def empty_hint(self) -> str:
        """What an empty chat says: the keys, after any welcome (the demo model's)."""
        welcome = self.r1app.welcome
        return f"{welcome}\n\n{EMPTY_HINT}" if welcome else EMPTY_HINT

    @work(thread=True, group="count-draft", exit_on_error=False, description="count the draft")
    def action_count_draft(self) -> None:
        """Say how many tokens the draft in the message box is, and its share of the window."""
        engine = self.engine
        if engine is None:
            self.notify("No model yet: the draft is counted by the model's own tokenizer.")
            return
        draft = self.app.call_from_thread(lambda: self.composer.text)
        count = engine.count_tokens(draft)
        n_ctx = engine.info.n_ctx
        about = "about " if engine.info.backend == "remote" else ""  # no tokenizer there
        self.notify(
            f"Your draft: {about}{count:,} token{'s' if count != 1 else ''}, "
            f"{count * 100 / n_ctx:.1f}% of the {n_ctx:,}-token window."
        )

    def action_stats(self) -> None:
        from r1chat.ui.screens.stats import StatsScreen

        self.app.push_screen(StatsScreen(self.service))

    def action_memory(self) -> None:
        from r1chat.ui.screens.memory import MemoryScreen

        self.app.push_screen(MemoryScreen(self.service, on_change=self.memory_changed))

    async def memory_changed(self) -> None:
        """The facts changed (here or on the memory screen): the next prompt uses them."""
        self.session.memory = await self._io(self.service.memory_facts)
        self.measure_soon(0)

    def _refusal(self, kind: ReplyKind, text: str) -> str | None:
        """Why a reply of this kind cannot start now (`None`: it can)."""
        session = self.session
        if self.generating:
            return "r1chat is still answering; Esc stops it."
        if self.engine is None:
            if self.status.state == "loading model":
                return "The model is still loading; your message is kept."
            return "No model is loaded; pick one with Ctrl+P → Switch model."
        if kind in ("reply", "edit") and not text.strip():
            return "The message is empty; type something first."
        if kind == "regenerate" and not session.can_regenerate():
            return "There is no answer to regenerate yet."
        if kind == "continue" and not session.can_continue():
            return "Only a reply that stopped while reasoning can think on; Ctrl+R answers again."
        if kind == "edit" and session.last_user_index() is None:
            return "There is no message to edit yet."
        return None

    async def start_reply(self, kind: ReplyKind, text: str = "") -> None:
        """Send, regenerate, resend or continue; the reply streams into a message.

        The message box clears and the message shows at once; fitting the prompt
        and reading it happen on the generation thread.
        """
        refusal = self._refusal(kind, text)
        if refusal:
            self.notify(refusal, severity="warning")
            return
        session = self.session
        session.engine = self.engine  # type: ignore[assignment]  # checked by _refusal
        self._cancel = ReplyControl()
        await self.conversation.jump_end()
        if kind in ("reply", "edit"):
            self.composer.text = ""
            self.drafts.pop(session.conversation_id, None)
        if kind == "edit":
            await self._drop_after_last_user(include_user=True)
            await self.conversation.add_user(text)
        elif kind == "reply":
            await self.conversation.add_user(text)
        else:
            await self._drop_after_last_user(include_user=False)
        self.editing = False
        info = session.engine.info
        budget = session.params.think_budget if info.reasoning and session.params.thinking else None
        widget = await self.conversation.add_assistant(budget)
        local_cpu = info.local_cpu
        if kind == "continue":
            widget.append_reasoning(session.messages[-1].reasoning)
        self._stream = ReplyStream(
            widget,
            self.set_timer,
            self._set_state,
            self._set_speed,
            self._finish,
            on_plan=self._planned,
            on_generated=self._generated,
            model_first=self.r1app.model_first if local_cpu else None,
            reasoning=info.reasoning and session.params.thinking,
        )
        # A blinking cursor is two more frames a second taken from the model.
        self.composer.cursor_blink = not local_cpu
        self._stream.start()
        self._run_reply(self._stream, session, kind, text)

    def _set_state(self, state: str) -> None:
        self.status.state = state
        self.refresh_bindings()  # "Answer now" shows only while the model reasons

    @property
    def reasoning_now(self) -> bool:
        """Whether a reply is streaming its reasoning (and has not been asked to answer)."""
        return (
            self.generating
            and self.engine is not None
            and self.engine.info.reasoning
            and self.status.state == "thinking"
            and not self._cancel.answer_requested
        )

    def action_answer_now(self) -> None:
        """End the reasoning; the model answers from it (the engine closes the block)."""
        if not self.reasoning_now:
            return
        self._cancel.answer_now()
        self.status.state = "answering"
        self.refresh_bindings()

    def _set_speed(self, tokens_per_second: float | None) -> None:
        self.status.tokens_per_second = tokens_per_second

    async def _planned(self, plan: PromptPlan) -> None:
        self.status.show_plan(plan)
        if plan.dropped_messages:
            turns = plan.dropped_turns
            self.notify(
                f"The oldest {turns:,} turn{'s' if turns != 1 else ''} no longer fit the "
                f"{plan.n_ctx:,}-token context and will not be sent.",
                severity="warning",
                timeout=6,
            )
            await self.conversation.mark_memory_start(plan.dropped_messages)

    def _generated(self, tokens: int) -> None:
        self.status.generated = tokens
        timing.tokens_shown(tokens)

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

    @work(
        thread=True,
        exclusive=True,
        group="generation",
        exit_on_error=False,
        description="generate a reply",
    )
    def _run_reply(
        self, stream: ReplyStream, session: ChatSession, kind: ReplyKind, text: str
    ) -> None:
        # On a worker thread: fitting the prompt, then the stream's events, go into the
        # queue; the screen drains it on a timer.
        queue = stream.events
        try:
            if kind == "reply":
                events = session.reply(text, self._cancel)
            elif kind == "edit":
                events = session.edit_last(text, self._cancel)
            elif kind == "continue":
                events = session.continue_reply(self._cancel)
            else:
                events = session.regenerate(self._cancel)
        except R1ChatError as error:
            queue.append(ReplyDone(None, str(error), started=False, text=text))
            return
        for event in events:
            queue.append(event)
        queue.append(ReplyDone(session.last_reply))

    async def _finish(self, widget: AssistantMessage, done: ReplyDone) -> None:
        self._stream = None
        self.status.generated = 0
        self.composer.cursor_blink = True
        self.refresh_bindings()
        stats = done.reply.stats if done.reply is not None else None
        stopped = stats is not None and stats.finish_reason == "cancelled"
        self.status.state = "stopped" if stopped else "idle"
        if not done.started:  # refused before anything was sent: take the message back
            await self._take_back(done)
            return
        reply = done.reply
        stats = reply.stats if reply else None
        message_id = reply.message_id if reply else None
        await widget.finish(
            FINISH_STATUS[stats.finish_reason] if stats else "error",
            stats.to_dict() if stats else None,
            message_id,
            None,
        )
        if stats is not None:
            self.status.tokens_per_second = stats.tokens_per_second
        error = done.error or (stats.error if stats else None)
        if error:
            self.notify(error, title="The reply failed", severity="error", timeout=15)
        elif reply is not None and reply.no_answer and stats and stats.finish_reason != "cancelled":
            self.notify(
                "The model stopped while reasoning, before any answer: Ctrl+G lets it think "
                "on, Ctrl+R answers again.",
                severity="warning",
                timeout=8,
            )
        self._settle()

    async def _take_back(self, done: ReplyDone) -> None:
        conversation_id = self.session.conversation_id
        if conversation_id is not None:
            opened = await self._io(self.service.open, conversation_id)
            await self._show(opened)
        else:
            await self.conversation.show([], empty_hint=self.empty_hint)
        if done.text and not self.composer.text:
            self.composer.text = done.text
        self.notify(done.error or "The reply could not start.", severity="error", timeout=15)

    @work(group="settle", exclusive=True, exit_on_error=False, description="settle after a reply")
    async def _settle(self) -> None:
        """After a reply: its versions, the chat's title and the sidebar, from the store."""
        conversation_id = self.session.conversation_id
        if conversation_id is None:
            return
        opened = await self._io(self.service.open, conversation_id)
        if self.generating or conversation_id != self.session.conversation_id:
            return
        versions = {mid: Versions(*where) for mid, where in opened.versions.items()}
        self.conversation.sync(opened.branch, versions)
        self.sub_title = opened.conversation.title
        self.refresh_sidebar()
        self.measure_soon(0)

    def action_stop(self) -> None:
        if self.generating:
            self._cancel.set()
            # Said at once; the reply's last frame follows as soon as the model stops.
            self.status.state = "stopped"
            if self._stream is not None:
                self._stream.stopping()
        elif self.editing:
            self.editing = False
            self.composer.text = self.drafts.get(self.session.conversation_id, "")
            self.notify("Edit cancelled.")

    def on_unmount(self) -> None:
        if self._stream is not None:  # the app is going with a reply still streaming
            self._stream.release()

    async def stop_and_wait(self) -> None:
        """Stop any reply and wait until it is saved (used when quitting)."""
        if self.generating:
            self._cancel.set()
            for worker in list(self.workers):
                if worker.group == "generation":
                    await worker.wait()
            while self._stream is not None:
                await self._stream.flush()

    async def action_regenerate(self) -> None:
        await self.start_reply("regenerate")

    async def action_continue_reply(self) -> None:
        await self.start_reply("continue")

    @on(Composer.EditLastRequested)
    def _edit_last_from_composer(self) -> None:
        self.action_edit_last()

    def action_edit_last(self) -> None:
        if self.generating:
            return
        index = self.session.last_user_index()
        if index is None:
            self.notify("There is no message to edit yet.", severity="warning")
            return
        self._keep_draft()
        self.editing = True
        self.composer.text = terminal_safe(self.session.messages[index].content)
        self.composer.move_cursor(self.composer.document.end)
        self.composer.focus()
        self.notify("Editing your last message: Enter sends it as a new version, Esc cancels.")

    def action_copy_last(self) -> None:
        last = next((m for m in reversed(self.session.messages) if m.role == "assistant"), None)
        if last is None or not last.content.strip():
            self.notify("There is no answer to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(last.content)
        self.notify("Answer copied to the clipboard.")

    # The context meter

    @on(TextArea.Changed, "#composer")
    def _draft_changed(self) -> None:
        self.measure_soon()

    def measure_soon(self, delay: float = MEASURE_DELAY) -> None:
        """Size the next prompt (history and draft) once typing pauses."""
        if self._measure_timer is not None:
            self._measure_timer.stop()
        self._measure_timer = self.set_timer(max(delay, 0.01), self._measure)

    def _measure(self) -> None:
        if self.generating or self.engine is None:
            return
        self._measure_worker(self.session, self.composer.text)

    @work(
        thread=True,
        exclusive=True,
        group="measure",
        exit_on_error=False,
        description="measure the next prompt",
    )
    def _measure_worker(self, session: ChatSession, draft: str) -> None:
        try:
            plan = self.service.plan(session, draft)
        except R1ChatError as error:
            self.app.call_from_thread(self.status.show_overflow, str(error))
            return
        if plan is not None:
            draft_tokens = session.engine.count_tokens(draft) if session.engine else 0
            self.app.call_from_thread(self.status.show_plan, plan, draft_tokens)
            used, tokens = session.memory_used, session.memory_tokens
            wanted = len(session.memory) if session.params.memory else 0
            self.app.call_from_thread(self._show_memory, used, wanted, tokens)

    def _show_memory(self, used: int, wanted: int, tokens: int) -> None:
        self.status.memory = (used, wanted, tokens)
        if used < wanted and self._memory_warned != (used, wanted):
            left = wanted - used
            self.notify(
                f"{left} memory fact{'s' if left != 1 else ''} left out of the next prompt so "
                "the chat's history still fits (the oldest go first).",
                severity="warning",
                timeout=6,
            )
        self._memory_warned = (used, wanted)

    # Chat settings

    def action_chat_settings(self) -> None:
        from r1chat.ui.screens.settings import ChatSettingsScreen

        if self.generating:
            self.notify("Stop the reply first (Esc).", severity="warning")
            return
        info = self.engine.info if self.engine else None
        params = self.session.params
        temperature = params.temperature
        top_p = params.top_p
        if info is not None:
            temperature = info.default_temperature if temperature is None else temperature
            top_p = info.default_top_p if top_p is None else top_p
        screen = ChatSettingsScreen(
            model=info.model_name if info else "no model",
            system_prompt=self.session.system_prompt,
            params=replace(params, temperature=temperature, top_p=top_p),
            reasoning=info.reasoning if info else True,
            usage=self._usage_line,
        )
        self.app.push_screen(screen, self._settings_chosen)

    def _usage_line(self) -> str:
        """This chat's tokens, thinking time and API-price equivalent (off the UI thread)."""
        conversation_id = self.session.conversation_id
        if conversation_id is None:
            return "This chat: nothing sent yet."
        try:
            usage, prices = self.service.chat_usage(conversation_id)
        except R1ChatError as error:
            return str(error)
        if not usage.replies:
            return "This chat: no replies counted yet."
        line = (
            f"This chat: {usage.replies:,} replies · {usage.read:,} tokens read · "
            f"{usage.reasoning:,} thinking · {usage.answer:,} answer · thought for "
            f"{usage.thinking_seconds:,.0f} s"
        )
        if prices:
            price = prices[0]
            line += (
                f" · {money(price.cost(usage.read, usage.written))} on {price.name} "
                f"({price.date} prices)"
            )
        return line

    def _settings_chosen(self, chosen: ChatSettingsChoice | None) -> None:
        if chosen is not None:
            self._apply_settings(chosen)

    @work(group="settings", exclusive=True, exit_on_error=False, description="apply chat settings")
    async def _apply_settings(self, chosen: ChatSettingsChoice) -> None:
        session = self.session
        await self._io(self.service.apply_settings, session, chosen.params, chosen.system_prompt)
        self.options = replace(
            self.options, params=chosen.params, system_prompt=chosen.system_prompt
        )
        saved = session.conversation_id is not None
        self.notify("Chat settings saved." if saved else "Settings set for this new chat.")
        self.measure_soon(0)
        if chosen.switch_model:
            self.app.action_command_palette()

    # Thinking view

    def action_cycle_thinking(self) -> None:
        index = THINKING_MODES.index(self.thinking_mode)
        self.set_thinking_mode(THINKING_MODES[(index + 1) % len(THINKING_MODES)])

    def set_thinking_mode(self, mode: ThinkingMode) -> None:
        """Apply a thinking mode to the whole conversation and remember it."""
        self.thinking_mode = mode
        self.conversation.apply_mode(mode)
        self.r1app.remember("thinking", mode)
        self.notify(f"Thinking: {mode}.", timeout=2)

    # Messages: versions, deletion, links

    @on(VersionRequested)
    def _version(self, event: VersionRequested) -> None:
        message_id = event.message_id
        if self.generating or message_id is None or self.session.conversation_id is None:
            return
        self._show_version(self.session.conversation_id, message_id, event.step)

    @work(group="open", exclusive=True, exit_on_error=False, description="show another version")
    async def _show_version(self, conversation_id: str, message_id: str, step: int) -> None:
        leaf = await self._io(self.service.sibling, message_id, step)
        if leaf is None:
            self.notify("No other version that way; Ctrl+R or an edit makes one.", timeout=4)
            return
        ids = self.session.message_ids
        index = ids.index(message_id) if message_id in ids else None
        opened = await self._io(self.service.open, conversation_id, leaf)
        await self._show(opened)
        if index is not None and index < len(opened.branch):
            target = opened.branch[index].id
            for widget in self.conversation.query(".user-message, .assistant-message"):
                if getattr(widget, "message_id", None) == target:
                    widget.focus()

    @on(AssistantMessage.DeleteRequested)
    def _delete_message(self, event: AssistantMessage.DeleteRequested) -> None:
        message_id = event.message.message_id
        if self.generating or message_id is None or self.session.conversation_id is None:
            return
        conversation_id = self.session.conversation_id

        def done(yes: bool | None) -> None:
            if yes:
                self._delete_message_now(conversation_id, message_id)

        self.app.push_screen(
            ConfirmScreen("Delete this answer and everything after it?", confirm="Delete"), done
        )

    @work(group="delete", exit_on_error=False, description="delete a message")
    async def _delete_message_now(self, conversation_id: str, message_id: str) -> None:
        await self._io(self.service.delete_message, message_id)
        opened = await self._io(self.service.open, conversation_id)
        await self._show(opened)
        self.notify("Message deleted.")

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

    def action_toggle_think(self) -> None:
        """Thinking off (or on again) for this chat: R1 models answer at once."""
        if self.engine is not None and not self.engine.info.reasoning:
            self.notify(
                f"{self.engine.info.model_name} does not reason: there is no thinking to turn "
                "off or on.",
                severity="warning",
            )
            return
        if self.generating:
            self.notify("Stop the reply first (Esc).", severity="warning")
            return
        from r1chat.ui.screens.settings import ChatSettingsChoice

        params = replace(self.session.params, thinking=not self.session.params.thinking)
        self._apply_settings(ChatSettingsChoice(params, self.session.system_prompt))
        self.notify(
            "Thinking is on for this chat."
            if params.thinking
            else "Thinking is off for this chat: the model answers at once."
        )

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
        if action == "answer_now":  # in the footer only while the model reasons
            return self.reasoning_now
        if action in ("regenerate", "edit_last", "continue_reply", "chat_settings"):
            return None if self.generating else True
        return True
