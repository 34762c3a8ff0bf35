"""Keys named from the live keymap, a keymap refused at start when it cannot work, and an
80-column layout that keeps Help, Quit and the whole context meter."""

from __future__ import annotations

import pytest
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from r1chat.config import Sections, Settings
from r1chat.core.events import PromptPlan
from r1chat.ui.keymap import check_keymap, keymap_line, places
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.widgets.messages import AssistantMessage
from r1chat.ui.widgets.status import short_model_name
from tests.cli_helpers import run
from tests.scripted import Script, ScriptedEngine
from tests.tui_helpers import REASONING_REPLY, chat_screen, make_app, ready, send, wait_until


def reasons(keymap: dict[str, str]) -> list[str]:
    return [problem.reason for problem in check_keymap(keymap)[1]]


def test_the_shipped_bindings_pass_their_own_check():
    shipped = {
        binding.id: binding.key for place in places() for binding in place.bindings if binding.id
    }
    assert len(shipped) > 40
    checked, problems = check_keymap(shipped)
    assert problems == [] and set(checked) == set(shipped)


def test_a_key_taken_by_another_action_in_the_same_place_is_refused():
    # The README's own example once made Ctrl+G both Regenerate and Think on.
    (reason,) = reasons({"chat.regenerate": "ctrl+g"})
    assert reason == (
        '"chat.regenerate" = "ctrl+g" takes ctrl+g, which Think on (chat.continue) has on '
        "the chat screen: pick another key, or move chat.continue too"
    )
    assert reasons({"chat.regenerate": "ctrl+g", "chat.continue": "f12"}) == []
    assert reasons({"app.help": "f2"})[0].startswith('"app.help" = "f2" takes f2, which Chat')
    assert reasons({"memory.add": "e"})[0].endswith(
        "(memory.edit) has in the memory screen: pick another key, or move memory.edit too"
    )
    # keys shared as shipped stay shared; one place's key is free in another
    assert reasons({"chat.help": "f1", "message.copy": "n", "memory.add": "n"}) == []


def test_ids_of_dialog_bindings_are_known_and_impossible_keys_are_refused():
    assert reasons({"memory.add": "n", "stats.close": "escape,q", "search.close": "f9"}) == []
    assert reasons({"chat.stop": "ctrl+shift+hyper+q"}) == [
        "\"chat.stop\" = \"ctrl+shift+hyper+q\": 'hyper' in 'ctrl+shift+hyper+q' is not a "
        "modifier terminals send (use ctrl, alt or shift)"
    ]
    assert "repeats a modifier" in reasons({"chat.new": "ctrl+ctrl+n"})[0]
    assert "'smile' in 'ctrl+smile' is not a key name" in reasons({"chat.new": "ctrl+smile"})[0]
    assert "names no binding" in reasons({"memory.ad": "n"})[0]
    assert "types text in the message box" in reasons({"chat.new": "n"})[0]
    assert reasons({"chat.new": "f24", "chat.search": "alt+shift+f", "chat.stats": "f12"}) == []


def test_a_key_the_text_field_keeps_for_itself_is_refused():
    """Textual offers a key to the focused widget first: a chat action on a key the
    message box uses itself would never run while you type, and the footer (which shows
    the focused widget's binding for that key) would lose it."""
    (reason,) = reasons({"chat.stop": "ctrl+k"})
    assert reason == (
        '"chat.stop" = "ctrl+k": the message box keeps ctrl+k for itself on the chat screen '
        "(Delete to line end), so r1chat would not see it while you type there "
        "(pick another key)"
    )
    assert (
        "keeps f6 for itself on the chat screen (Select line)"
        in reasons({"chat.thinking": "f6"})[0]
    )
    assert (
        "the search box keeps ctrl+e for itself in search" in reasons({"search.close": "ctrl+e"})[0]
    )
    assert "a settings field keeps ctrl+u" in reasons({"dialog.save_settings": "ctrl+u"})[0]
    assert "keeps ctrl+a" in reasons({"app.help": "ctrl+a"})[0]  # app-wide: every field
    assert "keeps pagedown" in reasons({"chat.stats": "pagedown"})[0]  # it pages the box
    # Quit comes first anyway (priority); keys it has as shipped; free keys; places
    # with no text field (a focused message)
    assert reasons({"app.quit": "ctrl+x", "chat.thinking": "f12", "message.copy": "f6"}) == []


async def test_a_remapped_key_is_in_the_footer_and_runs_while_typing(tmp_path):
    keymap = {"chat.thinking": "f12", "chat.stop": "f5"}
    script = Script(REASONING_REPLY, gate_after=6)
    app, engine, store = make_app(
        tmp_path, [script], settings=Settings(sections=Sections(keymap=keymap))
    )
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            screen = await ready(pilot)
            footer = {key.key: key.description for key in app.screen.query(FooterKey)}
            assert footer.get("f12") == "Thinking" and "f5" in footer
            screen.composer.focus()
            screen.composer.text = "Go"
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.generating)
            assert app.focused is screen.composer
            await pilot.press("f12")  # with the message box focused
            await wait_until(pilot, lambda: screen.thinking_mode != "collapsed")
            await pilot.press("f5")
            await wait_until(pilot, lambda: not screen.generating)
    finally:
        engine.gate.set()
        store.close()


def test_the_line_of_config_toml_is_found():
    text = '# mine\nmodel = "x"\n\n[keymap]\n"chat.new" = "f5"\nchat.stop = "f6"\n[ui]\n'
    assert keymap_line(text, "chat.new") == 5
    assert keymap_line(text, "chat.stop") == 6
    assert keymap_line('keymap."chat.new" = "f5"\n', "chat.new") == 1
    assert keymap_line(text, "chat.search") is None


def test_the_app_refuses_to_start_on_a_keymap_that_cannot_work(cli_env, r1chat_command, home):
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        '[ui]\ntheme = "r1-dark"\n\n[keymap]\n"chat.thinking" = "f12"\n'
        '"chat.regenerate" = "ctrl+g"\n"memory.add" = "n"\n"nope" = "f9"\n'
    )
    done = run(r1chat_command, cli_env, timeout=60)
    assert done.returncode != 0
    err = done.stderr.strip()
    assert err.startswith(f"r1chat: {config} line 6:"), err
    assert "takes ctrl+g, which Think on (chat.continue) has on the chat screen" in err
    assert err.endswith("move chat.continue too; 1 more [keymap] entry is wrong too.")
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert config.read_text().count("[keymap]") == 1  # the file is left as it was


SIZE_80 = (80, 24)


async def test_at_80x24_the_footer_keeps_help_and_quit_whatever_has_focus(tmp_path):
    engine = ScriptedEngine([Script("An answer with **Markdown**.")])
    app, _, store = make_app(tmp_path, engine=engine)
    async with app.run_test(size=SIZE_80) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "Hello")
        for focus in (screen.composer, screen.conversation.query(AssistantMessage).last()):
            focus.focus()
            await pilot.pause()
            shown = [active.binding.id for active in screen.active_bindings.values()]
            assert shown[:2] == ["chat.help", "app.quit"], shown
            footer = app.export_screenshot()
            assert "Help" in footer and "Quit" in footer
        assert not screen.sidebar.display  # below 100 columns the conversation has it all
    store.close()


async def test_at_80_columns_the_context_meter_is_whole_and_the_speed_gives_way(tmp_path):
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=SIZE_80) as pilot:
        screen = await ready(pilot)
        status = screen.status
        await wait_until(pilot, lambda: status.n_ctx > 0)  # measured once on opening
        await pilot.pause(0.5)
        status.model = "/srv/models/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf"
        status.backend = "remote"
        status.show_plan(
            PromptPlan(tokens=123_456, n_ctx=131_072, reserve=512, dropped_messages=24_690)
        )
        status.tokens_per_second = 27.2
        await pilot.pause()
        context = str(status.query_one("#status-context", Static).render())
        assert context == "ctx 123,456/131,072 94% · 12,345 left out"
        speed = status.query_one("#status-speed", Static)
        assert not speed.display  # no room: the speed goes first
        model = status.query_one("#status-model", Static)
        assert str(model.render()).startswith("DeepSeek-R1")
        assert "/srv/models" in str(model.tooltip)
        await pilot.pause()
        parts = [p for p in status.query(Static) if p.display]
        assert sum(p.outer_size.width for p in parts) <= 80
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        context = str(status.query_one("#status-context", Static).render())
        assert context == "ctx 123,456/131,072 94% · 12,345 old turns left out"
        assert speed.display and "27.2 tok/s" in str(speed.render())
    store.close()


def test_a_model_named_by_its_path_is_shown_by_its_file():
    assert short_model_name("/m/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf") == (
        "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M"
    )
    assert short_model_name("C:\\models\\qwen.GGUF") == "qwen"
    assert short_model_name("llama3.2") == "llama3.2"
    assert short_model_name("deepseek-ai/DeepSeek-R1") == "deepseek-ai/DeepSeek-R1"
    assert short_model_name("[b]x[/b] open/evil") == "[b]x[/b] open/evil"  # not a path
    assert short_model_name("~/m/r1.gguf") == "r1"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_dialog_hints_name_remapped_keys(tmp_path, size):
    keymap = {"memory.add": "n", "memory.close": "f10", "stats.close": "f9"}
    app, _, store = make_app(tmp_path, settings=Settings(sections=Sections(keymap=keymap)))
    async with app.run_test(size=size) as pilot:
        screen = await ready(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "MemoryScreen")
        hint = str(app.screen.query_one(".memory-help", Static).render())
        assert hint.startswith("N add · E edit · Space on/off · D delete · F10 close"), hint
        await pilot.press("f10")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        await pilot.press("f4")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "StatsScreen")
        assert "F9 close" in str(app.screen.query_one(".stats-dialog").border_subtitle)
        await pilot.press("f9")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert chat_screen(app) is screen
    store.close()


LONG_CODE = (
    "Here:\n\n```python\nresult = compute_the_value(first_argument=1, second_argument=2, "
    "third_argument=3, fourth=4)\n```\n"
)


async def test_code_wraps_below_100_columns_and_scrolls_sideways_above(tmp_path):
    from r1chat.ui.widgets.answer import CodeBlock

    app, _, store = make_app(tmp_path, [Script(LONG_CODE)])
    async with app.run_test(size=SIZE_80) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "code")
        await pilot.pause(0.2)
        block = screen.conversation.query(CodeBlock).first()
        assert block._body.size.height == 2 and block.max_scroll_x == 0  # wrapped, in view
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        assert block._body.size.height == 1 and block.max_scroll_x > 0  # one line, scrolls
        assert block.code.count("\n") == 0  # what `c` copies is the code as written
    store.close()


async def test_a_reply_rebuilds_the_footer_only_when_its_keys_change(tmp_path):
    """The footer rebuilds all its keys on every bindings refresh: a reply refreshes it
    when its keys change (it starts, Answer now goes, it ends), not at each change of
    the status line (a long prompt's reading reports every 128 tokens)."""
    reply = "<think>\n" + "Thinking it through. " * 40 + "\n</think>\n\n" + "Answer. " * 40
    app, engine, _ = make_app(tmp_path, [Script(reply, gate_after=5)])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        refreshes: list[int] = []
        screen.bindings_updated_signal.subscribe(screen, lambda _: refreshes.append(1))
        screen.composer.text = "Hello"
        screen.composer.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.status.state == "thinking")
        await pilot.pause(0.1)
        before = len(refreshes)
        for done in range(128, 4096, 128):
            screen._set_state(f"reading prompt {done:,} / 4,096 tokens")
        screen._set_state("thinking")
        await pilot.pause(0.1)
        while_reading = len(refreshes) - before
        reasoning = screen.reasoning_now
        engine.gate.set()
        await wait_until(pilot, lambda: not screen.generating)
    # Reading hides Answer now, thinking shows it again: 2 refreshes for 32 states.
    assert reasoning and while_reading <= 2
    # Answer now went, the reply ended, the message box took focus back.
    assert len(refreshes) - before <= 4


async def test_the_footer_keeps_its_keys_when_a_refresh_changes_nothing(tmp_path):
    """Textual refreshes the bindings on every focus change, screen change and binding
    reactive, and its footer removed and mounted all its keys each time (five times at
    start-up, twice a reply): the keys stay as they are unless what they show changes.
    A reply dims Regenerate and Chat settings while it runs, in place; a reasoning
    reply's Answer now is a new key, and rebuilds them."""
    reply = "<think>\n" + "Thinking it through. " * 40 + "\n</think>\n\n" + "Answer. " * 40
    app, engine, store = make_app(
        tmp_path, [Script("A plain answer. " * 10, gate_after=3), Script(reply, gate_after=5)]
    )

    def dimmed() -> list[str]:
        return [key.description for key in footer.query(FooterKey) if key.has_class("-disabled")]

    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        footer = screen.query_one(Footer)
        await wait_until(pilot, lambda: bool(footer.query(FooterKey)))
        await pilot.pause(0.2)
        keys = list(footer.query(FooterKey))
        assert "Regenerate" in [key.description for key in keys] and not dimmed()
        for _ in range(5):
            screen.refresh_bindings()
            app.refresh_bindings()
            await pilot.pause()
        await pilot.pause(0.2)
        assert list(footer.query(FooterKey)) == keys  # the same widgets, not rebuilt
        try:
            screen.composer.text = "Hello"  # an answer that does not reason
            await pilot.press("enter")
            await wait_until(pilot, lambda: "Regenerate" in dimmed())
            assert set(dimmed()) == {"Regenerate", "Chat settings"}
            assert list(footer.query(FooterKey)) == keys  # dimmed where they stand
        finally:
            engine.gate.set()
        await wait_until(pilot, lambda: not screen.generating)
        await wait_until(pilot, lambda: not dimmed())
        assert list(footer.query(FooterKey)) == keys
        engine.gate.clear()
        try:
            screen.composer.text = "And now?"
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: "Answer now" in [key.description for key in footer.query(FooterKey)]
            )
        finally:
            engine.gate.set()
        await wait_until(pilot, lambda: not screen.generating)
        # Answer now went: the keys were rebuilt, and they are the ones shown at first.
        expected = [(key.description, key.key_display) for key in keys]
        await wait_until(
            pilot,
            lambda: (
                [(key.description, key.key_display) for key in footer.query(FooterKey)] == expected
            ),
        )
        assert not dimmed() and not set(footer.query(FooterKey)) & set(keys)
    store.close()


async def test_status_parts_that_show_the_same_text_are_not_redrawn(tmp_path, monkeypatch):
    """The bar redraws on every change of any of its values; a part whose text did not
    change (an empty memory count, the model's name) must not ask for a new layout of
    the whole screen each time, as an empty part did."""
    app, _, _ = make_app(tmp_path, [Script("Answer words here. " * 200, tokens_per_second=400)])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        memory = screen.status.query_one("#status-memory", Static)
        updates: list[bool] = []
        original = memory.update

        def counted(*args, **kwargs):
            updates.append(kwargs.get("layout", True))
            return original(*args, **kwargs)

        monkeypatch.setattr(memory, "update", counted)
        await send(pilot, screen, "Hello")
    assert not memory.display and updates == []
