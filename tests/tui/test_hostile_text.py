"""Hostile text through every surface of the app: titles, model and theme names, file
names and error messages are shown as plain text, never run as markup actions, never
reach the terminal as control sequences, and never crash the app."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import OptionList

import r1chat.ui
from r1chat.errors import ModelError
from r1chat.paths import Paths
from r1chat.text import terminal_safe
from r1chat.ui.plain import plain
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.screens.dialogs import ConfirmScreen, TextPromptScreen
from r1chat.ui.screens.help import HelpScreen
from r1chat.ui.widgets.status import StatusBar
from tests.scripted import Script, ScriptedEngine
from tests.tui_helpers import chat_screen, make_app, wait_until

SIZE = (110, 36)
# Each piece once crashed the app or ran an action: an unbalanced close tag, a click
# action, a terminal hyperlink, an OSC 52 clipboard write and a bidi override.
HOSTILE = (
    "[/] [@click=app.quit]quit[/] [@click=app.screenshot('{target}')]shot[/] "
    "[link=file:///etc/passwd]link[/link] [b]open \x1b]52;c;aGk=\x07 \u202eevil"
)
FILE_SAFE = "[@click=app.quit]q [link=x]l [b]"


def shown_text(app) -> str:
    return str(app.export_screenshot())


def assert_literal(svg: str) -> None:
    """The screen shows the brackets and words literally, and none of the escapes."""
    assert "[@click=app.quit]" in svg.replace("&#160;", " ")
    assert "\x1b" not in svg and "\u202e" not in svg


@pytest.fixture
def hostile(tmp_path) -> str:
    return HOSTILE.format(target=tmp_path / "written-by-markup.svg")


@pytest.mark.slow
async def test_hostile_titles_models_themes_and_errors_are_plain_everywhere(tmp_path, hostile):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    themes = paths.config_dir / "themes"
    themes.mkdir(parents=True)
    (themes / "evil.toml").write_text(f'name = "{hostile[:30]}"\nprimary = "#ff0000"\n')
    paths.models_dir.mkdir(parents=True, exist_ok=True)
    (paths.models_dir / f"{FILE_SAFE}.gguf").write_bytes(b"not a model")
    engine = ScriptedEngine([Script("fine")], model_name=hostile)
    app, _, store = make_app(tmp_path, engine=engine)
    chat = store.create_conversation(title=hostile)
    store.add_message(chat.id, "user", hostile)
    store.add_message(chat.id, "assistant", hostile)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat_screen(app)
        await wait_until(pilot, lambda: screen.engine is not None)
        # The theme was refused with a notice, the status bar shows the model's name.
        notices = [str(n.message) for n in app._notifications]
        assert any("evil.toml" in notice and "name may only" in notice for notice in notices)
        status = screen.query_one(StatusBar)
        assert "[@click=app.quit]" in str(status.query_one("#status-model").render())
        # The sidebar, the conversation and the title.
        screen.open(chat.id)
        await wait_until(pilot, lambda: screen.session.conversation_id == chat.id)
        await pilot.pause()
        listing = screen.sidebar.query_one(OptionList)
        assert any("[@click=app.quit]" in str(o.prompt) for o in listing.options)
        assert_literal(shown_text(app))
        # The palette: discovery, then a search over titles and model file names.
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.pause(0.3)
        await pilot.press(*"open")
        await pilot.pause(0.5)
        assert_literal(shown_text(app))
        for _ in range(5):
            await pilot.press("backspace")
        await pilot.press(*"switch")
        await pilot.pause(0.5)
        palette_text = shown_text(app)
        assert "click=app.quit" in palette_text.replace("&#160;", " ")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        # Dialogs: rename (the title in the box), delete (the title in the question).
        screen.post_message(screen.sidebar.RenameRequested(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptScreen))
        await pilot.pause()  # drawn: on a busy machine the screenshot can come before
        assert_literal(shown_text(app))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen.post_message(screen.sidebar.DeleteRequested(chat.id))
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        assert_literal(shown_text(app))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen.action_edit_last()  # the message goes back into the box as it is shown
        assert "[@click=app.quit]" in screen.composer.text
        assert "\x1b" not in screen.composer.text and "\u202e" not in screen.composer.text
        screen.action_stop()
        screen.switch_model(str(paths.models_dir / f"{FILE_SAFE}.gguf"))
        await pilot.pause()
        # Notifications: every text a user can be told, with the hostile text inside.
        app.notify(hostile, title=hostile)
        screen.notify(hostile, title=hostile, severity="error")
        await pilot.pause()
        assert_literal(shown_text(app))
        # The help screen.
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        # Clicking everywhere a link could be runs nothing.
        for x in range(0, SIZE[0], 9):
            for y in range(0, SIZE[1], 4):
                await pilot.click(offset=(x, y))
        await pilot.pause()
        assert app.is_running
        assert app.return_code is None
    store.close()
    assert not (tmp_path / "written-by-markup.svg").exists()


@pytest.mark.slow
async def test_a_model_whose_load_error_is_hostile_gives_a_plain_notice(tmp_path, hostile):
    app, _, store = make_app(tmp_path, failing=ModelError(hostile))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat_screen(app)
        await wait_until(pilot, lambda: screen.status.state == "model failed")
        await pilot.pause(0.5)
        notices = [n for n in app._notifications if n.severity == "error"]
        assert notices and "[@click=app.quit]" in notices[-1].message
        assert "\x1b" not in notices[-1].message and "\u202e" not in notices[-1].message
        assert_literal(shown_text(app))
        for x in range(SIZE[0] - 50, SIZE[0], 3):  # where the notification is
            for y in range(SIZE[1] - 12, SIZE[1], 2):
                await pilot.click(offset=(x, y))
        assert app.is_running and app.return_code is None
    store.close()
    assert not (tmp_path / "written-by-markup.svg").exists()


def test_plain_keeps_brackets_and_drops_escapes_and_bidi(hostile):
    content = plain(hostile)
    assert content.plain.startswith("[/] [@click=app.quit]quit[/]")
    assert not content.spans  # nothing was read as style or action
    assert "\x1b" not in content.plain and "\u202e" not in content.plain
    assert terminal_safe("a\u2066b\u2069c\u202ad") == "abcd"


def test_the_ui_never_parses_outside_text_as_markup():
    # The safe way is the only way: no markup parsing, no Textual highlighter that parses
    # its candidate as markup, no notification that asks for markup.
    root = Path(r1chat.ui.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("from_markup", "highlight"):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
            if (
                isinstance(node, ast.keyword)
                and node.arg == "markup"
                and not (isinstance(node.value, ast.Constant) and node.value.value is False)
            ):
                found.append(f"{path.name}:{node.value.lineno} markup=")
    assert found == []


async def test_a_keymap_cannot_unbind_quit_and_bad_entries_are_reported(tmp_path):
    from r1chat.config import Sections, Settings

    keymap = {"app.quit": "ctrl+x", "no.such.binding": "ctrl+k", "chat.new": "ctrl+ +"}
    settings = Settings(sections=Sections(keymap=keymap))
    app, _, store = make_app(tmp_path, settings=settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        notices = " ".join(str(n.message) for n in app._notifications)
        assert '"no.such.binding" = "ctrl+k" names no binding' in notices
        assert '"chat.new" = "ctrl+ +": \'ctrl+ +\' ends with +' in notices
        assert app._keymap["app.quit"] == "ctrl+x,ctrl+q"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running)
    store.close()


async def test_quit_leaves_within_a_second_while_a_model_is_still_loading(tmp_path):
    import threading
    import time

    release = threading.Event()
    engine = ScriptedEngine([Script("ok")])
    app, _, store = make_app(tmp_path, engine=engine)
    factory = app.service._load

    def slow(model, n_ctx):  # a large model that takes its time
        release.wait(30)
        return factory(model, n_ctx)

    app.service._load = slow
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        await wait_until(pilot, lambda: chat_screen(app).status.state == "loading model")
        started = time.monotonic()
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, timeout=5)
        assert time.monotonic() - started < 2.5
    release.set()
    store.close()


async def test_ctrl_c_copies_a_selection_and_quits_when_pressed_twice(tmp_path):
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat_screen(app)
        screen.composer.focus()
        screen.composer.text = "copy me"
        screen.composer.select_all()
        await pilot.press("ctrl+c")
        assert app.clipboard == "copy me" and app.is_running
        screen.composer.text = ""
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running  # the first press only says how to quit
        assert any("Ctrl+C again" in str(n.message) for n in app._notifications)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not app.is_running)
    store.close()


@pytest.mark.slow
async def test_copying_puts_what_is_shown_on_the_clipboard(tmp_path, hostile):
    answer = f"Here: {hostile}\n\n```sh\necho {hostile}\n```\n"
    app, _, store = make_app(tmp_path, [Script(f"<think>hm</think>{answer}")])
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat_screen(app)
        await wait_until(pilot, lambda: screen.engine is not None)
        screen.composer.focus()
        screen.composer.text = "Go"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and bool(screen.session.messages))
        await pilot.pause()
        screen.action_copy_last()
        assert "[@click=app.quit]" in app.clipboard
        assert not any(c in app.clipboard for c in ("\x1b", "\x07", "\u202e"))
        from r1chat.ui.widgets.messages import AssistantMessage

        reply = screen.conversation.query(AssistantMessage).last()
        reply.action_copy_code()
        assert app.clipboard.startswith("echo ") and "\x1b" not in app.clipboard
    store.close()


async def test_a_flood_of_bad_keymap_lines_is_one_notice_and_typing_never_quits(tmp_path):
    from r1chat.config import Sections, Settings

    keymap = {f"no.such.{n}": "ctrl+k" for n in range(3000)}
    keymap["app.quit"] = "a,b,c,space"
    keymap["chat.new"] = "q"
    app, _, store = make_app(tmp_path, settings=Settings(sections=Sections(keymap=keymap)))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        notices = [str(n.message) for n in app._notifications if "[keymap]" in str(n.message)]
        assert len(notices) == 1 and "(and 2,999 more)" in notices[0]
        assert "app.quit" not in app.keymap and "chat.new" not in app.keymap  # refused
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        screen.composer.focus()
        await pilot.press("a", "b", "c", "space", "q")
        await pilot.pause()
        assert app.is_running and screen.composer.text == "abc q"
    store.close()


async def test_a_letter_bound_to_quit_is_refused_by_name(tmp_path):
    from r1chat.config import Sections, Settings

    settings = Settings(sections=Sections(keymap={"app.quit": "x"}))
    app, _, store = make_app(tmp_path, settings=settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        notices = " ".join(str(n.message) for n in app._notifications)
        assert '"app.quit" = "x": \'x\' types text in the message box' in notices
    store.close()


async def test_ctrl_c_stops_a_reply_and_a_second_one_within_a_second_quits(tmp_path):
    app, _, store = make_app(tmp_path, [Script("word " * 400, tokens_per_second=40)])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat_screen(app)
        await wait_until(pilot, lambda: screen.engine is not None)
        screen.composer.text = "Talk for a while"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.generating and screen.status.state == "answering")
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not screen.generating)
        assert app.is_running and screen.status.state == "stopped"
        assert any("Stopped; Ctrl+C again" in str(n.message) for n in app._notifications)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: not app.is_running)
    chat = store.latest()
    assert chat is not None and store.branch(chat.id)[-1].status == "cancelled"
    store.close()
