"""Presets in the app (the palette and F2), and the F2 dialog as people use it: Enter saves,
switches say on or off, the arrows move between fields."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Label, Select, Switch, TextArea

from r1chat.config import load_settings
from r1chat.paths import Paths
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.screens.settings import ChatSettingsScreen
from tests.scripted import Script
from tests.tui_helpers import latest_id, make_app, ready, wait_until

PRESETS = """
[presets.terse]
system = "Answer in one word."
max_tokens = 3
temperature = 0.1

[presets.reviewer]
system = "You review [bold]Python[/bold] code."
top_p = 0.5
thinking = false
"""


def with_presets(tmp_path):
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(PRESETS)
    return load_settings(Paths.from_env({"R1CHAT_HOME": str(tmp_path)}))


def notices(app) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def test_the_palette_gives_a_chat_a_preset(tmp_path):
    settings = with_presets(tmp_path)
    app, _, store = make_app(tmp_path, [Script("One.")], settings=settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await ready(pilot)
        titles = [command.title for command in app.get_system_commands(screen)]
        assert "Preset: terse" in titles and "Preset: reviewer" in titles
        helps = {c.title: c.help for c in app.get_system_commands(screen)}
        assert helps["Preset: reviewer"].startswith("This chat takes it: top_p 0.5")
        assert "\\[bold]" in helps["Preset: reviewer"]  # shown as written, not as markup
        screen.apply_preset("terse")
        await wait_until(pilot, lambda: "Preset terse for this chat" in notices(app))
        assert screen.session.system_prompt == "Answer in one word."
        assert screen.session.params.max_tokens == 3
        assert screen.session.params.temperature == 0.1
        screen.composer.text = "Hello"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and store.latest() is not None)
        await wait_until(pilot, lambda: all(screen.session.message_ids))
        params = store.conversation(latest_id(store)).params
        assert params["system_prompt"] == "Answer in one word." and params["max_tokens"] == 3
    store.close()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_f2_fills_in_from_a_preset_and_enter_saves(tmp_path, size):
    settings = with_presets(tmp_path)
    app, _, store = make_app(tmp_path, [Script("One.")], settings=settings)
    async with app.run_test(size=size) as pilot:
        screen = await ready(pilot)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen))
        dialog = app.screen
        dialog.query_one("#settings-preset", Select).value = "reviewer"
        await pilot.pause()
        system = dialog.query_one("#settings-system", TextArea).text
        assert system == "You review [bold]Python[/bold] code."
        assert dialog.query_one("#settings-top-p", Input).value == "0.5"
        thinking = dialog.query_one("#settings-thinking", Switch)
        assert thinking.value is False
        assert str(dialog.query_one("#settings-thinking-state", Label).render()) == "off"
        # Enter in a field saves, as in most dialogs.
        dialog.query_one("#settings-temperature", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        await wait_until(pilot, lambda: screen.session.system_prompt.startswith("You review"))
        assert screen.session.params.top_p == 0.5 and not screen.session.params.thinking
    store.close()


async def test_f2_switches_say_their_state_and_the_arrows_move_between_fields(tmp_path):
    app, _, store = make_app(tmp_path, [Script("One.")])
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen))
        dialog = app.screen
        assert not dialog.query("#settings-preset")  # no presets: no row for them
        memory = dialog.query_one("#settings-memory", Switch)
        state = dialog.query_one("#settings-memory-state", Label)
        assert str(state.render()) == ("on" if memory.value else "off")
        memory.focus()
        await pilot.press("space")
        await pilot.pause()
        assert str(state.render()) == ("on" if memory.value else "off")
        temperature = dialog.query_one("#settings-temperature", Input)
        temperature.focus()
        await pilot.press("down")
        assert app.focused is dialog.query_one("#settings-top-p", Input)
        await pilot.press("up")
        assert app.focused is temperature
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
    store.close()
