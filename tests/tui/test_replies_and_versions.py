"""The app on the conversation core: branches, no-answer, the context meter, a busy
store, model switches mid-reply, long chats, and what `r1chat/ui/` may import."""

from __future__ import annotations

import ast
import gc
import sqlite3
from pathlib import Path

import pytest

import r1chat.ui
from r1chat.engine.events import PromptPlan
from r1chat.store import ChatStore
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.screens.dialogs import ConfirmScreen
from r1chat.ui.widgets.conversation import PAGE
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage
from tests.benchmarks import stall as bench_stall
from tests.scripted import Script, ScriptedEngine
from tests.tui_helpers import latest_id, make_app, ready, wait_until

SIZE = (110, 36)


def test_every_worker_is_described_so_its_arguments_are_never_repr_ed():
    # Without a description, Textual repr()s a worker's arguments on the UI thread: for a
    # session holding a 10,000-message chat that alone took a quarter of a second.
    root = Path(r1chat.ui.__file__).parent
    workers, undescribed = 0, []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(call, ast.Name) and call.id == "work":
                    workers += 1
                    keywords = (
                        {k.arg for k in decorator.keywords}
                        if isinstance(decorator, ast.Call)
                        else set()
                    )
                    if "description" not in keywords:
                        undescribed.append(f"{path.name}: {node.name}")
    assert workers > 5
    assert undescribed == []


async def send(pilot, screen: ChatScreen, text: str) -> None:
    screen.composer.focus()
    screen.composer.text = text
    await pilot.press("enter")
    await wait_until(pilot, lambda: not screen.generating)


@pytest.mark.slow
async def test_an_edit_is_a_version_of_the_question_and_stays_after_a_restart(tmp_path):
    app, engine, store = make_app(tmp_path, [Script("Four."), Script("Six."), Script("Eight.")])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "Waht is 2+2?")
        screen.composer.focus()
        await pilot.press("up")
        assert screen.editing and screen.composer.cursor_location == (0, 12)  # at the end
        screen.composer.text = "What is 3+3?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating)
        user = screen.conversation.query_one(UserMessage)
        await wait_until(pilot, lambda: user.versions is not None)
        assert "‹ 2/2 ›" in str(user.render())
        user.focus()
        await pilot.press("left")
        await wait_until(
            pilot,
            lambda: [u.text for u in screen.conversation.query(UserMessage)] == ["Waht is 2+2?"],
        )
        assert [r.answer for r in screen.conversation.query(AssistantMessage)] == ["Four."]
        conversation_id = screen.session.conversation_id
    assert [m.content for m in engine.requests[1].messages] == ["What is 3+3?"]
    store.close()
    # After a restart the chat opens on the branch last looked at.
    app, engine, store = make_app(tmp_path, [Script("Ok.")], open_conversation=conversation_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_until(pilot, lambda: bool(screen.conversation.query(UserMessage)))
        assert [u.text for u in screen.conversation.query(UserMessage)] == ["Waht is 2+2?"]
    store.close()


@pytest.mark.slow
async def test_a_reply_cut_off_while_reasoning_says_no_answer_and_thinks_on(tmp_path):
    scripts = [
        Script("<think>\nLet me think about the sky and its colour for a while", piece_size=4),
        Script(" more, then answer.\n</think>\n\nBecause of Rayleigh scattering."),
    ]
    app, engine, store = make_app(tmp_path, scripts)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "Why is the sky blue?")
        reply = screen.conversation.query_one(AssistantMessage)
        await wait_until(pilot, lambda: reply.has_no_answer)
        line = str(reply.no_answer.render())
        assert line.startswith("No answer: the model stopped while reasoning") and "Ctrl+G" in line
        saved_id = reply.message_id
        await pilot.press("ctrl+g")
        await wait_until(
            pilot,
            lambda: (
                not screen.generating
                and not screen.conversation.query(AssistantMessage).last().streaming
            ),
        )
        reply = screen.conversation.query(AssistantMessage).last()
        await wait_until(pilot, lambda: reply.answer == "Because of Rayleigh scattering.")
        assert not reply.has_no_answer and reply.message_id == saved_id
    assert (engine.requests[1].continue_reasoning or "").startswith("Let me think about the sky")
    saved = store.conversation(latest_id(store)).messages
    assert len(saved) == 2 and saved[1].content == "Because of Rayleigh scattering."
    assert saved[1].reasoning.endswith("for a while more, then answer.")
    store.close()


async def test_the_context_meter_shows_the_next_prompt_and_never_passes_full(tmp_path):
    _, _, seed = make_app(tmp_path)
    long_chat = seed.create_conversation(title="Long")
    for index in range(60):
        seed.add_message(long_chat.id, "user", f"Question {index} " + "word " * 30)
        seed.add_message(long_chat.id, "assistant", f"Answer {index} " + "word " * 30)
    seed.close()
    engine = ScriptedEngine([Script("Fine.")], n_ctx=1024)
    app, _, store = make_app(tmp_path, engine=engine, open_conversation=long_chat.id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        status = screen.status
        await wait_until(pilot, lambda: status.dropped_turns > 0)
        text = status.context_text()
        assert "old turns left out" in text and "/1,024" in text
        assert int(text.split()[2].rstrip("%")) <= 100
        before = status.context_used
        screen.composer.text = "a much longer draft " * 20
        await wait_until(pilot, lambda: status.context_used != before)
        status.generated = 5_000  # a reply as long as the window: the meter stops at 100%
        assert status.context_text().startswith("ctx 1,024/1,024 100%")
        assert status.query_one("#status-context").has_class("full")
        status.show_plan(PromptPlan(900, 4096, 256, window_guessed=True))  # a silent server
        status.generated = 0
        assert status.context_text().startswith("ctx 900/~4,096? 21%")
        assert "assumed" in (status.context_tooltip() or "")
    store.close()


async def test_a_busy_store_gives_a_notice_not_a_crash(tmp_path, monkeypatch):
    import r1chat.store.database as database

    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 300)
    app, _, store = make_app(tmp_path)
    chat_id = store.create_conversation(title="Keep me").id
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        holder = sqlite3.connect(store.path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            screen._rename_to(chat_id, "Renamed")
            await wait_until(
                pilot, lambda: any("locked" in str(n.message) for n in app._notifications)
            )
            assert isinstance(app.screen, ChatScreen) and app.is_running
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    assert store.conversation(chat_id, messages=False).title == "Keep me"
    store.close()


async def test_switching_model_during_a_reply_stops_it_first_and_is_saved(tmp_path):
    first = ScriptedEngine([Script("word " * 400, gate_after=5)], model_path="first.gguf")
    second = ScriptedEngine([Script("Hi.")], model_name="Second", model_path="second.gguf")
    app, _, store = make_app(tmp_path, engine=first)
    app.service._load = lambda model, n_ctx: second if model == "second.gguf" else first
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.composer.text = "Tell me a long story."
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.generating)
        screen.switch_model("second.gguf")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.engine is second and not screen.generating)
        assert screen.status.model == "Second"
        conversation_id = screen.session.conversation_id
        assert conversation_id is not None
        await wait_until(
            pilot,
            lambda: (
                store.conversation(conversation_id, messages=False).params.get("model_path")
                == "second.gguf"
            ),
        )
    messages = store.conversation(conversation_id).messages
    assert messages[-1].status == "cancelled"  # stopped and saved before the switch
    store.close()


@pytest.mark.slow
async def test_long_chats_page_in_as_you_scroll_and_home_end_jump(tmp_path):
    _, _, seed = make_app(tmp_path)
    chat_id = seed.create_conversation(title="Very long").id
    for index in range(150):
        seed.add_message(chat_id, "user", f"Question {index}")
        seed.add_message(chat_id, "assistant", f"Answer {index}")
    seed.close()
    app, _, store = make_app(tmp_path, open_conversation=chat_id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        view = screen.conversation
        # One page of one-line messages does not fill the view: pages come in until it
        # does, so that it can scroll (and scrolling up brings in more).
        await wait_until(pilot, lambda: view.max_scroll_y > 0 and not view._window.locked())
        shown = len(view.query(".user-message, .assistant-message"))
        assert shown > PAGE and shown % PAGE == 0
        assert view.hidden_count == 300 - shown
        assert view.query(UserMessage).last().text == "Question 149"
        view.scroll_to(y=view.scroll_y - 5, animate=False, immediate=True)
        view.scroll_home(animate=False, immediate=True)
        await wait_until(pilot, lambda: view.hidden_count == 300 - shown - PAGE)
        view.focus()
        await pilot.press("home")
        await wait_until(pilot, lambda: view.query(UserMessage).first().text == "Question 0")
        await pilot.press("end")
        await wait_until(pilot, lambda: view.query(UserMessage).last().text == "Question 149")
        screen.composer.focus()
        await send(pilot, screen, "One more")
        assert view.query(UserMessage).last().text == "One more"
    store.close()


async def test_a_reply_stopped_before_any_reasoning_is_stopped_not_no_answer(tmp_path):
    script = Script("thinking that never shows", starts_in_reasoning=True, gate_after=0)
    app, _, store = make_app(tmp_path, [script])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.composer.focus()
        screen.composer.text = "Why?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.generating)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)
        reply = screen.conversation.query_one(AssistantMessage)
        assert reply.status == "cancelled" and not reply.has_no_answer
        assert "stopped" in str(reply.footer.render())
        # No `No reasoning` block for a reply that wrote nothing (its prompt opened one).
        assert reply.reasoning_block is None or not reply.reasoning_block.display
    conversation_id = latest_id(store)
    saved = store.conversation(conversation_id).messages[-1]
    assert saved.status == "cancelled" and not saved.no_answer
    assert saved.stats is not None and saved.stats["had_reasoning"]
    store.close()
    app, _, store = make_app(tmp_path, [script], open_conversation=conversation_id)  # reopened
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        reply = screen.conversation.query_one(AssistantMessage)
        assert reply.status == "cancelled"
        assert reply.reasoning_block is None or not reply.reasoning_block.display
    store.close()


@pytest.mark.slow
async def test_the_garbage_collector_waits_while_a_reply_streams(tmp_path):
    # A full collection over a long chat's objects held the UI thread 40-60 ms at a time.
    gated = Script("<think>hm</think>" + "word " * 50, gate_after=3)
    app, engine, store = make_app(tmp_path, [gated, Script("x", error_after=0), gated])

    async def start(text: str, streams: bool = True) -> None:
        screen.composer.focus()
        screen.composer.text = text
        await pilot.press("enter")
        if streams:
            await wait_until(pilot, lambda: screen.generating)

    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            assert gc.isenabled()
            await start("Go")
            assert not gc.isenabled()
            engine.gate.set()
            await wait_until(pilot, lambda: not screen.generating)
            assert gc.isenabled()
            await start("Fail this time", streams=False)  # a failed reply turns it back on too
            last = lambda: screen.conversation.query(AssistantMessage).last()  # noqa: E731
            await wait_until(pilot, lambda: last().status == "error" and not screen.generating)
            assert gc.isenabled()
            engine.gate.clear()
            await start("Quit while this streams")
            assert not gc.isenabled()
        assert gc.isenabled()  # the app went with the reply still streaming
    finally:
        engine.gate.set()
        gc.enable()
        store.close()


@pytest.mark.slow
async def test_the_stall_bench_really_holds_the_lock_and_closes_the_old_model_late(tmp_path):
    figures = await bench_stall._rename_under_lock(tmp_path / "lock")
    assert figures["rename_seconds"] >= bench_stall.LOCK_SECONDS * 0.9  # it waited for the lock
    figures = await bench_stall._switch_mid_reply(tmp_path / "switch")
    assert figures["switch_seconds"] >= bench_stall.SLOW_CLOSE_SECONDS * 0.9
    assert set(figures) == {"switch_seconds", "switch_stall"}


async def test_a_full_disk_when_sending_gives_a_notice_and_keeps_the_message(tmp_path, monkeypatch):
    import r1chat.store.chats as chats
    from r1chat.store.database import connect

    app, _, store = make_app(tmp_path, [Script("<think>ok</think>An answer.")])

    def full(path):  # every new connection sees a disk with no room left
        connection = connect(path)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")
        return connection

    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await ready(pilot)
        store.close()  # existing connections go; new ones are full
        monkeypatch.setattr(chats, "connect", full)
        text = "Please keep this message. " + "x" * 8_000
        screen.composer.focus()
        screen.composer.text = text
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: any("disk is full" in str(n.message) for n in app._notifications)
        )
        await wait_until(pilot, lambda: not screen.generating)
        assert app.is_running and isinstance(app.screen, ChatScreen)
        shown = [m.text for m in screen.conversation.query(UserMessage)]
        answers = screen.conversation.query(AssistantMessage)
        assert shown == [text] and answers.last().answer == "An answer."
    monkeypatch.setattr(chats, "connect", connect)
    saved = store.list_conversations()
    assert [c.message_count for c in saved] in ([], [0])  # nothing half-saved
    store.close()


async def test_a_read_only_store_opens_the_app_with_a_notice_and_reads_chats(tmp_path):
    from r1chat.config import load_settings
    from r1chat.core.service import ChatService
    from r1chat.paths import Paths
    from r1chat.store import ChatStore
    from r1chat.ui.app import R1ChatApp

    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    seed = ChatStore.open(paths)
    chat = seed.create_conversation(title="Readable")
    seed.add_message(chat.id, "user", "Still here")
    seed.close()
    store = ChatStore(seed.path, read_only=True)
    engine = ScriptedEngine([Script("An answer.")])
    settings = load_settings(paths, {})
    service = ChatService(store, settings, lambda model, n_ctx: engine)
    app = R1ChatApp(settings, paths, service, model="x.gguf", open_conversation=chat.id)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await ready(pilot)
        assert any("read-only" in str(n.message) for n in app._notifications)
        await wait_until(pilot, lambda: bool(screen.conversation.query(UserMessage)))
        assert screen.conversation.query(UserMessage).first().text == "Still here"
        await send(pilot, screen, "One more")
        assert app.is_running
        assert screen.conversation.query(AssistantMessage).last().answer == "An answer."
        assert any("nothing new is saved" in str(n.message) for n in app._notifications)
    store.close()


def test_key_names_read_as_people_write_them():
    from r1chat.ui.keys import key_label

    assert key_label("ctrl+g") == "Ctrl+G"
    assert key_label("f5,ctrl+r") == "F5"
    assert key_label("escape") == "Esc"
    assert key_label("ctrl+shift+up") == "Ctrl+Shift+Up"
    assert key_label("") == "?"


async def test_hints_name_the_keys_of_the_live_keymap(tmp_path):
    """A remapped key is named in the empty chat's hint, the palette and the notices."""
    from r1chat.config import Sections, Settings

    keymap = {"chat.regenerate": "f5", "chat.thinking": "f12", "chat.stop": "f10"}
    app, _, store = make_app(tmp_path, settings=Settings(sections=Sections(keymap=keymap)))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await ready(pilot)
        assert app.key("chat.regenerate") == "F5" and app.key("chat.continue") == "Ctrl+G"
        assert "F12 shows or hides thinking" in screen.empty_hint
        assert "Ctrl+T" not in screen.empty_hint
        await screen.action_regenerate()
        await pilot.pause()
        notices = " ".join(str(n.message) for n in app._notifications)
        assert "There is no answer to regenerate yet." in notices
        assert screen._refusal("continue", "") is not None
        assert "F5 answers again" in (screen._refusal("continue", "") or "")
    store.close()


async def test_the_database_deleted_while_the_app_runs_is_written_back(tmp_path):
    """Deleting chats.db under a running app: the next save notices, writes the whole
    database back from the open copy, says so, and every chat is there after quitting."""
    import os

    app, _, store = make_app(tmp_path)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "First question")
        os.unlink(store.path)
        await send(pilot, screen, "Second question")
        await wait_until(
            pilot,
            lambda: any(
                "was deleted while r1chat ran" in str(n.message) for n in app._notifications
            ),
        )
    store.close()
    again = ChatStore(store.path)
    try:
        chat = again.latest()
        assert chat is not None
        texts = [m.content for m in again.all_messages(chat.id) if m.role == "user"]
        assert texts == ["First question", "Second question"]
    finally:
        again.close()


async def test_a_message_of_megabytes_is_cut_on_screen_and_the_app_still_quits(tmp_path):
    app, _, store = make_app(tmp_path)
    chat = store.create_conversation(title="Huge")
    store.add_message(chat.id, "user", "word " * 1_000_000 + "USER END")
    store.add_message(
        chat.id, "assistant", "answer " * 1_000_000 + "ANSWER END", reasoning="r " * 600_000
    )
    app.open_conversation = chat.id
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await ready(pilot)
        await wait_until(pilot, lambda: len(screen.conversation.query(UserMessage)) == 1)
        (user,) = screen.conversation.query(UserMessage)
        assert len(user.text) < 101_000 and "USER END" not in user.text
        assert "more characters are not shown here; `r1chat show" in user.text
        reply = screen.conversation.query(AssistantMessage).last()
        assert len(reply.answer) < 101_000 and "more characters are not shown" in reply.answer
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running)
    saved = store.branch(chat.id)  # the store keeps every character
    assert saved[0].content.endswith("USER END") and saved[1].content.endswith("ANSWER END")
    store.close()
