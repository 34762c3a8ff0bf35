"""Provides the event-loop stall figures of `r1chat bench ui`.

A probe on the app's own event loop asks for a 10 ms timer over and over and keeps the
worst lateness: while it is late, keys, drawing and the spinner all wait too.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1chat.paths import Paths
from r1chat.store.chats import DATABASE_NAME, ChatStore
from r1chat.store.ids import new_id
from tests.benchmarks.headless import headless_app, wait_for
from tests.scripted import Script, ScriptedEngine

TICK = 0.010
LOCK_SECONDS = 2.0
SLOW_CLOSE_SECONDS = 2.0


class StallProbe:
    """Measures the worst delay of a 10 ms timer on the running event loop."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(TICK)
            self.worst = max(self.worst, time.perf_counter() - asked - TICK)

    async def __aenter__(self) -> StallProbe:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclass
class SlowCloseEngine(ScriptedEngine):
    """A scripted model whose `close` takes as long as freeing a large model can."""

    closed: list[float] = field(default_factory=list)

    def close(self) -> None:
        time.sleep(SLOW_CLOSE_SECONDS)
        self.closed.append(time.perf_counter())
        super().close()


def seed_long_chat(paths: Paths, messages: int) -> str:
    """A conversation of `messages` turns written straight into the store; its id."""
    store = ChatStore.open(paths)
    conversation = store.create_conversation(title=f"{messages:,} messages")
    now = time.time()
    with store.transaction() as db:
        parent = None
        for index in range(messages):
            message_id = new_id()
            db.execute(
                "INSERT INTO messages (id, conversation_id, parent_id, role, content, reasoning, "
                "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'complete', ?, ?)",
                (
                    message_id,
                    conversation.id,
                    parent,
                    "user" if index % 2 == 0 else "assistant",
                    f"Message {index} with **Markdown** and `code`.\n\n- a\n- b",
                    "" if index % 2 == 0 else "Some reasoning. " * 20,
                    now + index * 1e-6,
                    now + index * 1e-6,
                ),
            )
            parent = message_id
        db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (parent, conversation.id))
    store.close()
    return conversation.id


_HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


async def _until_ready(app: Any, pilot: Any) -> Any:
    from r1chat.ui.screens.chat import ChatScreen

    await wait_for(lambda: isinstance(app.screen, ChatScreen), pilot, timeout=60)
    screen = app.screen
    await wait_for(lambda: screen.engine is not None, pilot, timeout=60)
    return screen


async def _send_and_show(screen: Any, pilot: Any, text: str) -> float:
    """Press Enter on `text`; seconds until the box is clear and the message is shown."""
    from r1chat.ui.widgets.messages import UserMessage

    screen.composer.text = text
    screen.composer.focus()
    await pilot.pause()

    def shown() -> bool:
        if screen.composer.text:
            return False
        users = screen.conversation.query(UserMessage)
        return bool(users) and users.last().text == text

    async def watch() -> float:  # the pilot's press waits for the screen: watch beside it
        while not shown():
            await asyncio.sleep(0.002)
        return time.perf_counter()

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    await pilot.press("enter")
    elapsed = await asyncio.wait_for(watcher, 30) - started
    await wait_for(lambda: not screen.generating, pilot, timeout=120)
    return elapsed


async def _long_chat_figures(home: Path) -> dict[str, float]:
    """(a) open a 10,000-message chat, (b) send in a 2,000-message chat, and send in 10,000."""
    paths = Paths.from_env({"R1CHAT_HOME": str(home)})
    big = seed_long_chat(paths, 10_000)
    middle = seed_long_chat(paths, 2_000)
    engine = ScriptedEngine([Script("<think>\nA short thought.\n</think>\n\nDone. " * 20)])
    app, store = headless_app(home, None, factory=lambda model, n_ctx: engine)
    figures: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _until_ready(app, pilot)
        await pilot.pause()
        async with StallProbe() as probe:
            started = time.perf_counter()
            await screen.open(big).wait()
            await pilot.pause()
            figures["open_10000_seconds"] = time.perf_counter() - started
        figures["open_10000_stall"] = probe.worst
        figures["send_10000_shown_seconds"] = await _send_and_show(screen, pilot, "Hello again")
        await screen.open(middle).wait()
        await pilot.pause()
        async with StallProbe() as probe:
            figures["send_2000_shown_seconds"] = await _send_and_show(screen, pilot, "One more")
        figures["send_2000_stall"] = probe.worst
    store.close()
    return figures


async def _rename_under_lock(home: Path) -> dict[str, float]:
    """(c) rename a chat while another process holds the store's write lock."""

    paths = Paths.from_env({"R1CHAT_HOME": str(home)})
    chat = seed_long_chat(paths, 4)
    engine = ScriptedEngine([Script("ok")])
    app, store = headless_app(home, None, factory=lambda model, n_ctx: engine)
    figures: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _until_ready(app, pilot)
        await screen.open(chat).wait()
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _HOLD_LOCK,
                str(paths.data_dir / DATABASE_NAME),
                str(LOCK_SECONDS),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            await asyncio.to_thread(holder.stdout.readline)  # "locked"
            async with StallProbe() as probe:
                started = time.perf_counter()
                await screen._rename_to(chat, "Renamed while locked").wait()
                figures["rename_seconds"] = time.perf_counter() - started
            figures["rename_stall"] = probe.worst
        finally:
            await asyncio.to_thread(holder.wait, 30)
        await wait_for(lambda: screen.sub_title == "Renamed while locked", pilot, timeout=10)
    store.close()
    return figures


async def _switch_mid_reply(home: Path) -> dict[str, float]:
    """(d) switch model while a reply streams: ask, stop, save, load, close the old one."""
    from r1chat.ui.screens.dialogs import ConfirmScreen

    loaded: list[SlowCloseEngine] = []

    def factory(model: str, n_ctx: int | None) -> SlowCloseEngine:
        engine = SlowCloseEngine(
            [Script("<think>\n" + "Still thinking about it. " * 400, tokens_per_second=100)],
            model_name=Path(model).stem,
            model_path=model,
        )
        loaded.append(engine)
        return engine

    app, store = headless_app(home, None, factory=factory)
    figures: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _until_ready(app, pilot)
        first = screen.engine
        screen.composer.text = "Think for a long time."
        screen.composer.focus()
        await pilot.press("enter")
        await wait_for(lambda: screen.generating, pilot)
        await asyncio.sleep(0.5)
        async with StallProbe() as probe:
            started = time.perf_counter()
            screen.switch_model(str(home / "other-model.gguf"))
            await wait_for(lambda: isinstance(app.screen, ConfirmScreen), pilot)
            await pilot.press("y")
            await wait_for(
                lambda: screen.engine is not first and screen.engine is not None, pilot, timeout=30
            )
            await wait_for(lambda: bool(first.closed), pilot, timeout=30)
            figures["switch_seconds"] = time.perf_counter() - started
        figures["switch_stall"] = probe.worst
    for engine in loaded:
        engine.close = ScriptedEngine.close.__get__(engine)  # type: ignore[method-assign]
    store.close()
    return figures


def stall_figures(root: Path) -> dict[str, float]:
    """All four scenarios, each in a fresh app and store under `root`."""
    figures: dict[str, float] = {}
    figures.update(asyncio.run(_long_chat_figures(root / "long")))
    figures.update(asyncio.run(_rename_under_lock(root / "locked")))
    figures.update(asyncio.run(_switch_mid_reply(root / "switch")))
    return figures


def print_stall_figures(figures: dict[str, float]) -> None:
    """The stall figures as lines of `bench ui` output."""

    def ms(key: str) -> str:
        return f"{figures[key] * 1000:,.0f} ms"

    print("  event loop: worst lateness of a 10 ms timer while")
    print(
        f"    (a) opening a 10,000-message chat: {ms('open_10000_stall')} "
        f"(opened in {ms('open_10000_seconds')})"
    )
    print(
        f"    (b) sending in a 2,000-message chat: {ms('send_2000_stall')} "
        f"(message shown in {ms('send_2000_shown_seconds')}; "
        f"in a 10,000-message chat {ms('send_10000_shown_seconds')})"
    )
    print(
        f"    (c) renaming while another process holds the write lock "
        f"{LOCK_SECONDS:.0f} s: {ms('rename_stall')} (saved after {ms('rename_seconds')})"
    )
    print(
        f"    (d) switching model during a reply (old model takes {SLOW_CLOSE_SECONDS:.0f} s "
        f"to close): {ms('switch_stall')} (switched in {ms('switch_seconds')})"
    )
