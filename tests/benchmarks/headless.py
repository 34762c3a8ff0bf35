"""Provides the app as the benches drive it: headless, on a scripted or loaded engine, with
a private store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1chat.config import Settings
from r1chat.engine.base import Engine
from r1chat.paths import Paths
from r1chat.store.chats import ChatStore

if TYPE_CHECKING:
    from r1chat.core.service import EngineFactory


async def wait_for(predicate: Callable[[], bool], pilot: Any, timeout: float = 120) -> None:
    """Poll gently: the bench must not add work to the UI thread it is measuring."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.05)


def headless_app(
    home: Path,
    engine: Engine | None,
    settings: Settings | None = None,
    factory: EngineFactory | None = None,
    **options: Any,
) -> Any:
    """The app on a scripted or loaded `engine` (or models from `factory`), store under `home`."""
    from r1chat.core.service import ChatService
    from r1chat.ui.app import R1ChatApp

    paths = Paths.from_env({"R1CHAT_HOME": str(home)})
    store = ChatStore.open(paths)
    settings = settings or Settings()

    def load(model: str, n_ctx: int | None) -> Engine:
        assert engine is not None, "give an engine or a factory"
        return engine

    app = R1ChatApp(
        settings,
        paths,
        ChatService(store, settings, factory or load),
        model="bench.gguf",
        remember_settings=False,
        **options,
    )
    return app, store
