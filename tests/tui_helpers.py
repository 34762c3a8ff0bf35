"""Shared pieces for the TUI tests: an app on a scripted engine, and waiting for state."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from r1chat.config import Settings, load_settings
from r1chat.engine.scripted import Script, ScriptedEngine
from r1chat.paths import Paths
from r1chat.service import ChatService
from r1chat.store import ChatStore
from r1chat.ui.app import R1ChatApp

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


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)
