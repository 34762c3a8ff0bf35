"""What experts reach for: any message edited into a new branch, a branch from any reply,
a list of branches, timestamps, the draft in $EDITOR, and a clear key after a long paste."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.widgets import OptionList

from r1chat.config import Sections, Settings, UISettings, load_settings
from r1chat.paths import Paths
from r1chat.ui.screens.chat_draft import editor_command
from r1chat.ui.screens.dialogs import ChoiceScreen
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage
from tests.scripted import Script, ScriptedEngine
from tests.tui_helpers import latest_id, make_app, ready, wait_until
from tests.tui_helpers import send as send_and_wait

SIZES = [(80, 24), (120, 40)]


async def send(pilot, screen, text: str) -> None:
    """Send and wait until the reply is saved (its id known)."""
    await send_and_wait(pilot, screen, text)
    await wait_until(pilot, lambda: all(screen.session.message_ids))


def texts(screen) -> list[str]:
    shown = []
    for widget in screen.conversation.query(".user-message, .assistant-message"):
        shown.append(widget.text if isinstance(widget, UserMessage) else widget.answer)
    return shown


def notices(app) -> str:
    return " ".join(str(n.message) for n in app._notifications)


@pytest.mark.parametrize("size", SIZES)
async def test_any_of_your_messages_edits_into_a_new_branch(tmp_path, size):
    engine = ScriptedEngine([Script(f"Answer {n}.") for n in range(1, 6)])
    app, _, store = make_app(tmp_path, engine=engine)
    async with app.run_test(size=size, notifications=True) as pilot:
        screen = await ready(pilot)
        for question in ("First?", "Second?", "Third?"):
            await send(pilot, screen, question)
        first = screen.conversation.query(UserMessage).first()
        first.focus()
        await pilot.press("e")
        assert screen.editing and screen.edit_index == 0
        assert screen.composer.text == "First?"
        assert "stays saved as the other version" in notices(app)
        screen.composer.text = "First, edited?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and all(screen.session.message_ids))
        assert texts(screen) == ["First, edited?", "Answer 4."]
        assert [m.content for m in screen.session.messages] == ["First, edited?", "Answer 4."]
        edited = screen.conversation.query(UserMessage).first()
        assert edited.versions is not None and edited.versions.label() == "‹ 2/2 ›"
        # The old branch is all there, one version back.
        edited.focus()
        await pilot.press("left")
        await wait_until(pilot, lambda: len(texts(screen)) == 6)
        assert texts(screen)[:2] == ["First?", "Answer 1."]
        assert texts(screen)[-1] == "Answer 3."
    assert len(store.message_links(latest_id(store))) == 8  # every message is kept
    store.close()


async def test_a_reply_branches_and_the_branches_are_listed(tmp_path):
    engine = ScriptedEngine([Script(f"Answer {n}.") for n in range(1, 6)])
    app, _, store = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        screen = await ready(pilot)
        for question in ("One?", "Two?", "Three?"):
            await send(pilot, screen, question)
        screen.conversation.query(AssistantMessage).first().focus()
        await pilot.press("b")
        await wait_until(pilot, lambda: texts(screen) == ["One?", "Answer 1."])
        assert "goes on from this reply" in notices(app)
        assert app.focused is screen.composer
        await send(pilot, screen, "Another way?")
        assert texts(screen) == ["One?", "Answer 1.", "Another way?", "Answer 4."]
        second = screen.conversation.query(UserMessage)[1]
        assert second.versions is not None and second.versions.count == 2
        # Every branch in a list; the chosen one is shown.
        screen.action_branches()
        await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        dialog = app.screen
        assert isinstance(dialog, ChoiceScreen)
        labels = [label for _, label in dialog.choices]
        assert len(labels) == 2 and labels[0].startswith("● ") and "Another way?" in labels[0]
        assert "Three?" in labels[1]
        options = dialog.query_one(OptionList)
        options.highlighted = 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(texts(screen)) == 6)
        assert texts(screen)[-2:] == ["Three?", "Answer 3."]
    store.close()


@pytest.mark.parametrize("size", SIZES)
async def test_timestamps_show_on_focus_and_for_all_with_the_toggle(tmp_path, size):
    app, _, store = make_app(tmp_path, [Script("Hi there."), Script("Again.")])
    async with app.run_test(size=size) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "Hello")
        user = screen.conversation.query(UserMessage).first()
        reply = screen.conversation.query(AssistantMessage).first()
        saved = store.conversation(latest_id(store)).messages
        clock = __import__("r1chat.text", fromlist=["moment_label"]).moment_label
        stamp = clock(saved[0].created_at)
        assert stamp not in str(user.render())
        user.focus()
        await pilot.pause()
        assert str(user.render()).endswith(stamp)
        reply.focus()
        await pilot.pause()
        assert stamp not in str(user.render())
        assert str(reply.footer.render()).startswith(clock(saved[1].created_at))
        screen.composer.focus()
        await pilot.pause()
        assert not str(reply.footer.render()).startswith(clock(saved[1].created_at))
        screen.action_toggle_timestamps()
        await pilot.pause()
        assert str(user.render()).endswith(stamp)
        assert str(reply.footer.render()).startswith(clock(saved[1].created_at))
        await send(pilot, screen, "More")  # new messages follow the toggle
        assert str(screen.conversation.query(UserMessage).last().render()).count(":") == 1
    config = Paths.from_env({"R1CHAT_HOME": str(tmp_path)}).config_file
    assert "timestamps = true" in config.read_text()
    assert load_settings(Paths.from_env({"R1CHAT_HOME": str(tmp_path)})).sections.ui.timestamps
    store.close()


async def test_timestamps_on_from_config_show_on_every_message(tmp_path):
    settings = Settings(sections=Sections(ui=UISettings(timestamps=True)))
    app, _, store = make_app(tmp_path, [Script("Hi.")], settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "Hello")
        assert ":" in str(screen.conversation.query(UserMessage).first().render())
    store.close()


def write_editor(folder: Path, body: str) -> str:
    script = folder / "editor.py"
    script.write_text(
        "import sys, pathlib\npath = pathlib.Path(sys.argv[1])\ntext = path.read_text()\n" + body
    )
    return f"{sys.executable} {script}"


async def test_the_draft_goes_to_the_users_editor_and_comes_back(tmp_path, monkeypatch):
    editor = write_editor(tmp_path, "path.write_text(text.upper() + ' AND MORE\\n')\n")
    monkeypatch.setenv("VISUAL", editor)
    app, _, store = make_app(tmp_path, [Script("ok")])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        screen.composer.text = "a long prompt"
        await pilot.press("f8")
        await wait_until(pilot, lambda: screen.composer.text == "A LONG PROMPT AND MORE")
        assert app.focused is screen.composer
        assert not list((tmp_path / "cache" / "drafts").iterdir())  # the file is gone
        screen.composer.action_undo()
        assert screen.composer.text == "a long prompt"
    store.close()


async def test_an_editor_that_fails_leaves_the_draft_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("VISUAL", write_editor(tmp_path, "path.write_text('lost')\nsys.exit(3)\n"))
    app, _, store = make_app(tmp_path, [Script("ok")])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await ready(pilot)
        screen.composer.text = "keep me"
        await pilot.press("f8")
        await wait_until(pilot, lambda: "ended with status 3" in notices(app))
        assert screen.composer.text == "keep me"
        monkeypatch.setenv("VISUAL", "/no/such/editor")
        await pilot.press("f8")
        await wait_until(pilot, lambda: "Cannot start the editor" in notices(app))
        assert screen.composer.text == "keep me"
    store.close()


def test_the_editor_is_visual_then_editor():
    assert editor_command({"VISUAL": "code --wait", "EDITOR": "vim"}) == ["code", "--wait"]
    assert editor_command({"EDITOR": "nano -w"}) == ["nano", "-w"]


async def test_a_long_paste_says_how_to_clear_it_and_the_key_clears_it(tmp_path):
    from textual import events

    settings = Settings(sections=Sections(keymap={"chat.clear_draft": "f12"}))
    app, _, store = make_app(tmp_path, [Script("ok")], settings=settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await ready(pilot)
        screen.composer.focus()
        app.post_message(events.Paste("line\n" * 3000))  # as a terminal delivers it
        await wait_until(pilot, lambda: "Pasted 3,001 lines" in notices(app))
        assert "F12 clears the message box" in notices(app)
        assert "F8 opens it in your editor" in notices(app)
        await pilot.press("f12")
        assert screen.composer.text == ""
        assert "Cleared 3,001 lines" in notices(app)
        screen.composer.action_undo()
        assert screen.composer.text.count("line") == 3000
    store.close()
