"""Provides `ChatScreenBase`: the chat screen's state and parts, shared by its modules."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker

from r1chat.core.events import Engine, ReplyControl
from r1chat.core.service import ChatService, OpenedChat
from r1chat.domain import Conversation
from r1chat.ui.host import AppHost
from r1chat.ui.reply_stream import ReplyStream
from r1chat.ui.widgets.composer import Composer
from r1chat.ui.widgets.conversation import ConversationView
from r1chat.ui.widgets.reasoning import ThinkingMode
from r1chat.ui.widgets.sidebar import Sidebar
from r1chat.ui.widgets.status import StatusBar

NARROW = 100
"""Below this width the sidebar starts hidden (Ctrl+B shows it): at 80 columns the
conversation gets the whole width."""
REMEMBER = "/remember"
"""Typed first in the message box: what follows becomes a memory fact."""
EMPTY_HINT = (
    "Ask anything. Enter sends, Ctrl+J adds a line, {thinking} shows or hides thinking, "
    "{help} lists every key."
)
"""What an empty chat says; the keys are filled in from the live keymap."""

ReplyKind = Literal["reply", "regenerate", "edit", "continue"]
MEASURE_DELAY = 0.3
"""Seconds after the last keystroke before the next prompt is sized again."""
T = TypeVar("T")


class ChatScreenBase(Screen[None]):
    """The chat screen's state and parts, shared by the modules that make it up."""

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
        self.edit_index: int | None = None
        """Which message of the history an edit replaces (`None`: the last of yours)."""
        self.sidebar_wanted = True
        self._cancel = ReplyControl()
        self._stream: ReplyStream | None = None
        self._reply_over = asyncio.Event()
        """Set while no reply streams: what stopping and waiting waits on."""
        self._reply_over.set()
        self._measure_timer: Timer | None = None
        self._keys_for: tuple[bool, bool] | None = None
        """What the footer's keys were last refreshed for (replying, reasoning): the
        footer rebuilds itself on every refresh, so a reply refreshes it only when one
        of them changes."""
        self._shown: weakref.ref[Engine] | None = None
        """The running engine as the status bar shows it (set on the UI thread; weak: the
        service owns it)."""
        self._memory_warned: tuple[int, int] = (0, 0)

    @property
    def r1app(self) -> AppHost:
        """The app, as far as this screen needs it (`R1ChatApp` in practice)."""
        return cast("AppHost", self.app)

    @property
    def engine(self) -> Engine | None:
        """The running engine once the screen shows it (`None` until a model has loaded).

        The service owns the engine and switches it on its loading thread; the screen
        takes a new one when it shows it, so the status bar and what is sent never
        disagree about the model.
        """
        engine = self.service.engine
        shown = self._shown() if self._shown is not None else None
        return engine if engine is not None and engine is shown else None

    def _save_failed(self, message: str) -> None:
        # Called on the generation thread, or on the UI thread: `notify` is safe on both.
        self.app.notify(message, severity="error", timeout=10)

    async def _io(self, call: Callable[..., T], *args: Any) -> T:
        """Run a blocking service call on a thread; the event loop keeps drawing."""
        return await asyncio.to_thread(call, *args)

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

    def _keep_draft(self) -> None:
        self.drafts[self.session.conversation_id] = self.composer.text

    def key(self, binding_id: str) -> str:
        """The key that runs `binding_id` now (after the keymap), as people write it."""
        return self.r1app.key(binding_id)

    @property
    def empty_hint(self) -> str:
        """What an empty chat says: the keys, after any welcome (the demo model's)."""
        hint = EMPTY_HINT.format(thinking=self.key("chat.thinking"), help=self.key("chat.help"))
        welcome = self.r1app.welcome
        return f"{welcome}\n\n{hint}" if welcome else hint

    if TYPE_CHECKING:  # provided by the modules that make up `ChatScreen`

        def load_model(
            self, model: str, n_ctx: int | None = None, *, drawn_first: bool = False
        ) -> None: ...

        def measure_soon(self, delay: float = MEASURE_DELAY) -> None: ...

        def refresh_sidebar(self) -> Worker[None]: ...

        async def memory_changed(self) -> None: ...

        async def _show(self, opened: OpenedChat, *, first: bool = False) -> None: ...
