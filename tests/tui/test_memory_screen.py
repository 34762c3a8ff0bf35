"""Memory in the app: /remember, the status bar's count and cost, the memory screen, and a
chat that turns memory off (scripted engine, real store)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Switch

from r1chat.store.memory import Memory
from r1chat.ui.screens.memory import MemoryScreen
from r1chat.ui.screens.settings import ChatSettingsScreen
from tests.tui_helpers import latest_id, make_app, ready, wait_until

SIZE = (110, 32)


@pytest.mark.slow
async def test_remember_then_see_switch_off_and_forget_facts(tmp_path):
    app, engine, store = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.composer.focus()
        screen.composer.text = "/remember I am a night owl who codes in Rust"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.session.memory)
        assert screen.composer.text == "" and not engine.requests  # nothing was sent
        await wait_until(pilot, lambda: screen.status.memory[0] == 1)
        assert screen.status.memory[2] > 0  # its token cost
        assert "mem 1 · " in str(screen.status.query_one("#status-memory").render())
        # It goes with the next message.
        screen.composer.text = "What should I drink?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and engine.requests)
        assert "night owl" in engine.requests[-1].system_prompt
        # The memory screen: add, switch off, delete.
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, MemoryScreen))
        memory_screen = app.screen
        await wait_until(pilot, lambda: memory_screen.query_one(DataTable).row_count == 1)
        await pilot.press("a")
        await wait_until(pilot, lambda: app.screen.query("#dialog-input"))
        app.screen.query_one("#dialog-input", Input).value = "Prefers tea"
        await pilot.press("enter")
        await wait_until(pilot, lambda: memory_screen.query_one(DataTable).row_count == 2)
        await pilot.press("space")  # the first fact off
        await wait_until(pilot, lambda: len(screen.session.memory) == 1)
        assert screen.session.memory == ["Prefers tea"]
        await pilot.press("down", "d")
        await wait_until(pilot, lambda: app.screen.query("#confirm"))
        await pilot.press("y")
        await wait_until(pilot, lambda: memory_screen.query_one(DataTable).row_count == 1)
        await pilot.press("escape")
    facts = Memory(store).facts()
    assert [(f.text, f.enabled) for f in facts] == [("I am a night owl who codes in Rust", False)]
    store.close()


@pytest.mark.slow
async def test_a_chat_can_turn_memory_off_in_its_settings(tmp_path):
    app, engine, store = make_app(tmp_path)
    Memory(store).add("Call me Captain.")
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_until(pilot, lambda: screen.status.memory[0] == 1)
        screen.action_chat_settings()
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen))
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ChatSettingsScreen)
        dialog.query_one("#settings-memory", Switch).value = False
        dialog.action_save()
        await wait_until(pilot, lambda: not screen.session.params.memory)
        screen.composer.focus()
        screen.composer.text = "Who am I?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and engine.requests)
        assert "Captain" not in engine.requests[-1].system_prompt
        await wait_until(pilot, lambda: screen.status.memory == (0, 0, 0))
    record = store.conversation(latest_id(store), messages=False).params
    assert record["memory"] is False
    store.close()
