"""Shared pieces for the TUI tests: an app on a scripted engine, and waiting for state."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from r1chat.config import Settings, load_settings
from r1chat.core.service import ChatService
from r1chat.core.session import ChatSession, Reply
from r1chat.paths import Paths
from r1chat.store import ChatStore
from r1chat.ui.app import R1ChatApp
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.widgets.messages import AssistantMessage
from r1chat.ui.widgets.reasoning import ReasoningBlock
from tests.scripted import Script, ScriptedEngine

REASONING_REPLY = (
    "<think>\nThe user wants a greeting. I will say hello warmly.\n\n"
    "Keep it short.\n</think>\n\nHello! **Nice** to meet you.\n\n```python\nprint('hi')\n```\n"
)


def make_app(
    home: Path,
    scripts: list[Script] | None = None,
    *,
    engine: ScriptedEngine | None = None,
    open_conversation: str | None = None,
    failing: Exception | None = None,
    settings: Settings | None = None,
) -> tuple[R1ChatApp, ScriptedEngine, ChatStore]:
    """An `R1ChatApp` with a real store in `home` and a scripted engine."""
    paths = Paths.from_env({"R1CHAT_HOME": str(home)})
    store = ChatStore.open(paths)
    engine = engine or ScriptedEngine(scripts or [Script(REASONING_REPLY)])

    def factory(model: str, n_ctx: int | None) -> ScriptedEngine:
        if failing is not None:
            raise failing
        return engine

    settings = settings or load_settings(paths, {})
    app = R1ChatApp(
        settings,
        paths,
        ChatService(store, settings, factory),
        model="scripted.gguf",
        open_conversation=open_conversation,
    )
    return app, engine, store


async def wait_until(pilot, predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def latest_id(store: ChatStore) -> str:
    """The id of the most recently updated conversation (the test fails if there is none)."""
    latest = store.latest()
    assert latest is not None, "no saved conversation"
    return latest.id


def chat_screen(app: R1ChatApp) -> ChatScreen:
    """The app's current screen, which the test expects to be the chat."""
    screen = app.screen
    assert isinstance(screen, ChatScreen), screen
    return screen


def block_of(reply: AssistantMessage) -> ReasoningBlock:
    """A reply's thinking block (the test fails if it has none)."""
    block = reply.reasoning_block
    assert block is not None, "the reply has no thinking block"
    return block


def last_reply(session: ChatSession) -> Reply:
    """The session's last reply (the test fails if nothing was sent)."""
    reply = session.last_reply
    assert reply is not None, "no reply yet"
    return reply


async def ready(pilot) -> ChatScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen))
    screen = chat_screen(pilot.app)
    await wait_until(pilot, lambda: screen.engine is not None)
    return screen


async def send(pilot, screen: ChatScreen, text: str) -> AssistantMessage:
    """Send `text` from the message box and wait until its reply has ended; the reply."""
    replies = len(screen.conversation.query(AssistantMessage))
    screen.composer.text = text
    screen.composer.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: len(screen.conversation.query(AssistantMessage)) > replies)
    await wait_until(pilot, lambda: not screen.generating)
    return screen.conversation.query(AssistantMessage).last()
