"""The chat app driven with Textual's pilot on a scripted engine: screen state and disk state."""

from __future__ import annotations

import tomllib

import pytest
from textual.binding import Binding
from textual.widgets import Input, OptionList, Static

from r1chat.errors import ModelError
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.screens.dialogs import ConfirmScreen, LinkChooserScreen
from r1chat.ui.screens.help import HelpScreen
from r1chat.ui.widgets.answer import CodeBlock, ProseBlock
from r1chat.ui.widgets.conversation import PAGE
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage
from tests.scripted import Script
from tests.tui_helpers import (
    REASONING_REPLY,
    block_of,
    chat_screen,
    latest_id,
    make_app,
    wait_until,
)

SIZE = (110, 36)


def chat(app) -> ChatScreen:
    screen = chat_screen(app)
    assert isinstance(screen, ChatScreen)
    return screen


async def ready(pilot) -> ChatScreen:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ChatScreen))
    screen = chat(pilot.app)
    await wait_until(pilot, lambda: screen.engine is not None)
    return screen


async def send(pilot, text: str) -> None:
    screen = chat(pilot.app)
    screen.composer.focus()
    screen.composer.text = text
    await pilot.press("enter")


def replies(screen: ChatScreen) -> list[AssistantMessage]:
    return list(screen.conversation.query(AssistantMessage))


async def test_send_streams_reasoning_then_answer_and_saves(tmp_path):
    app, engine, store = make_app(tmp_path, [Script(REASONING_REPLY, tokens_per_second=400)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.status.state == "idle" and screen.status.backend == "scripted"
        await send(pilot, "Say hello")
        await wait_until(pilot, lambda: bool(replies(screen)))
        reply = replies(screen)[0]
        await wait_until(pilot, lambda: screen.status.state == "thinking" or not reply.streaming)
        await wait_until(pilot, lambda: not reply.streaming)
        assert screen.status.state == "idle"
        block = reply.reasoning_block
        assert block is not None and block.display
        assert block.collapsed  # the default mode
        assert str(block.title).startswith("Thought for ") and "tokens" in str(block.title)
        assert "I will say hello warmly." in block.body.text
        assert reply.answer.startswith("Hello! **Nice** to meet you.")
        assert reply.answer_view.source == reply.answer
        code = reply.answer_view.query(CodeBlock)
        assert len(code) == 1 and code.first().code == "print('hi')"
        assert screen.composer.text == ""
        assert screen.status.context_used > 0 and screen.status.tokens_per_second
    messages = store.conversation(latest_id(store)).messages
    assert [(m.role, m.status) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert messages[1].reasoning.startswith("The user wants a greeting.")
    assert messages[1].stats is not None and messages[1].stats["reasoning_tokens"] > 0
    assert engine.requests[0].messages[-1].content == "Say hello"
    store.close()


@pytest.mark.slow
async def test_thinking_toggle_cycles_the_whole_conversation_and_persists(tmp_path):
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        for text in ("one", "two"):
            await send(pilot, text)
            await wait_until(pilot, lambda: not screen.generating)
        blocks = [r.reasoning_block for r in replies(screen)]
        assert all(b is not None and b.display and b.collapsed for b in blocks)
        await pilot.press("ctrl+t")
        assert screen.thinking_mode == "hidden" and not any(b and b.display for b in blocks)
        await pilot.press("ctrl+t")
        assert str(screen.thinking_mode) == "expanded"
        assert all(b and b.display and not b.collapsed for b in blocks)
        # One block can still be closed on its own.
        assert blocks[0] and blocks[1]
        blocks[0].collapsed = True
        assert not blocks[1].collapsed
        await pilot.press("ctrl+t")
        assert str(screen.thinking_mode) == "collapsed" and all(b and b.collapsed for b in blocks)
    config = tomllib.loads((tmp_path / "config" / "config.toml").read_text())
    assert config["ui"]["thinking"] == "collapsed"
    # The next start uses the saved mode.
    (tmp_path / "config" / "config.toml").write_text('[ui]\nthinking = "hidden"\n')
    app, _, store2 = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        assert screen.thinking_mode == "hidden"
    store.close()
    store2.close()


async def test_escape_stops_and_the_partial_answer_is_saved_as_cancelled(tmp_path):
    script = Script("<think>quick</think>Partial answer that goes on and on", gate_after=8)
    app, _, store = make_app(tmp_path, [script])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, "Go")
        await wait_until(
            pilot, lambda: bool(replies(screen)) and "Parti" in replies(screen)[0].answer
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)
        reply = replies(screen)[0]
        assert reply.status == "cancelled"
        assert "stopped" in str(reply.footer.render())
        partial = reply.answer
        assert partial and "on and on" not in partial
    saved = store.conversation(latest_id(store)).messages[-1]
    assert saved.status == "cancelled" and saved.content == partial
    store.close()


@pytest.mark.slow
async def test_regenerate_keeps_both_versions_and_arrows_flip_between_them(tmp_path):
    scripts = [Script("<think>a</think>First answer"), Script("<think>b</think>Second answer")]
    app, _, store = make_app(tmp_path, scripts)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, "Question")
        await wait_until(pilot, lambda: bool(replies(screen)) and not screen.generating)
        await pilot.press("ctrl+r")
        await wait_until(
            pilot, lambda: not screen.generating and "Second" in replies(screen)[-1].answer
        )
        assert len(replies(screen)) == 1
        latest = replies(screen)[0]
        assert latest.versions is not None and (latest.versions.index, latest.versions.count) == (
            1,
            2,
        )
        assert "2/2" in str(latest.footer.render())
        latest.focus()
        await pilot.press("left")
        await wait_until(
            pilot, lambda: replies(screen) and replies(screen)[0].answer == "First answer"
        )
        assert "1/2" in str(replies(screen)[0].footer.render())
        assert screen.session.messages[-1].content == "First answer"
        # Continuing from the older version makes it part of the saved branch.
        await send(pilot, "Follow-up")
        await wait_until(pilot, lambda: not screen.generating and len(replies(screen)) == 2)
    conversation = store.conversation(latest_id(store))
    assert [m.content for m in conversation.messages][:2] == ["Question", "First answer"]
    assert len(store.all_messages(conversation.id)) == 5
    store.close()


@pytest.mark.slow
async def test_edit_and_resend_the_last_message(tmp_path):
    app, engine, store = make_app(tmp_path, [Script("Answer one"), Script("Answer two")])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, "Waht is 2+2?")
        await wait_until(pilot, lambda: not screen.generating and bool(replies(screen)))
        screen.composer.focus()
        await pilot.press("up")  # in an empty message box: edit the last message
        assert screen.editing and screen.composer.text == "Waht is 2+2?"
        screen.composer.text = "What is 2+2?"
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: not screen.generating and replies(screen)[-1].answer == "Answer two"
        )
        users = list(screen.conversation.query(UserMessage))
        assert [u.text for u in users] == ["What is 2+2?"]
    assert [m.content for m in engine.requests[1].messages] == ["What is 2+2?"]
    everything = store.all_messages(latest_id(store))
    assert [m.content for m in everything if m.role == "user"] == ["Waht is 2+2?", "What is 2+2?"]
    store.close()


async def test_resume_a_saved_conversation_and_continue_it(tmp_path):
    _, _, seed = make_app(tmp_path)
    conversation = seed.create_conversation(title="Earlier chat")
    seed.add_message(conversation.id, "user", "Remember: my cat is Tom.")
    seed.add_message(
        conversation.id,
        "assistant",
        "Noted.",
        reasoning="store the cat's name",
        stats={
            "had_reasoning": True,
            "reasoning_seconds": 2.5,
            "reasoning_tokens": 9,
            "prompt_tokens": 20,
            "answer_tokens": 2,
        },
    )
    seed.close()
    app, engine, store = make_app(tmp_path, [Script("Tom.")], open_conversation=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        old = replies(screen)[0]
        assert old.answer == "Noted." and str(block_of(old).title) == "Thought for 2.5 s · 9 tokens"
        # The meter shows the next prompt: the history as it will be sent.
        expected = engine.plan(screen.session.request("")).tokens
        await wait_until(pilot, lambda: screen.status.context_used == expected)
        await send(pilot, "What is my cat called?")
        await wait_until(pilot, lambda: not screen.generating and len(replies(screen)) == 2)
    sent = engine.requests[0].messages
    assert [m.content for m in sent] == [
        "Remember: my cat is Tom.",
        "Noted.",
        "What is my cat called?",
    ]
    assert len(store.conversation(conversation.id).messages) == 4
    store.close()


@pytest.mark.slow
async def test_replies_without_reasoning_show_no_block_and_empty_ones_say_so(tmp_path):
    scripts = [Script("Plain answer."), Script("<think>\n\n</think>\n\nQuick answer.")]
    app, _, store = make_app(tmp_path, scripts)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, "one")
        await wait_until(pilot, lambda: not screen.generating and bool(replies(screen)))
        plain = replies(screen)[0]
        assert plain.reasoning_block is None or not block_of(plain).display
        await send(pilot, "two")
        await wait_until(pilot, lambda: not screen.generating and len(replies(screen)) == 2)
        empty = replies(screen)[1]
        assert empty.reasoning_block is not None and block_of(empty).display
        assert str(block_of(empty).title) == "No reasoning"
        assert empty.answer == "Quick answer."
    store.close()


@pytest.mark.slow
async def test_sidebar_lists_filters_opens_renames_and_deletes(tmp_path):
    _, _, seed = make_app(tmp_path)
    ids = {}
    for title in ("Baking bread", "Sky colour", "Bread again"):
        c = seed.create_conversation(title=title)
        seed.add_message(c.id, "user", title)
        ids[title] = c.id
    seed.close()
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        listing = screen.sidebar.query_one("#sidebar-list", OptionList)
        listed = screen.sidebar.conversation_ids
        await wait_until(pilot, lambda: len(listed()) == 3)
        assert listing.get_option_at_index(0).disabled  # the "Today" heading
        assert "Today" in str(listing.get_option_at_index(0).prompt)
        filter_box = screen.sidebar.query_one("#sidebar-filter", Input)
        filter_box.focus()
        await pilot.press(*"bread")
        await wait_until(pilot, lambda: len(listed()) == 2)
        await pilot.press("enter")  # to the list
        assert listing.has_focus
        listing.highlighted = listing.get_option_index(ids["Bread again"])
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.session.conversation_id == ids["Bread again"])
        listing.focus()
        await pilot.press("r")
        await wait_until(pilot, lambda: not isinstance(app.screen, ChatScreen))
        await pilot.press("end", *" Sourdough", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert "Sourdough" in store.conversation(ids["Bread again"], messages=False).title
        listing.focus()
        await pilot.press("delete")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: store.count_conversations() == 2)
        assert screen.session.conversation_id is None  # the open chat was deleted: a new one
        # The filter searches the messages too, and says when nothing matches.
        filter_box.value = "colour"
        await wait_until(pilot, lambda: listed() == [ids["Sky colour"]])
        filter_box.value = "zebra"
        await wait_until(
            pilot, lambda: "Nothing matches" in str(listing.get_option_at_index(0).prompt)
        )
    store.close()


async def test_the_filter_finds_chats_by_what_was_said_not_only_titles(tmp_path):
    _, _, seed = make_app(tmp_path)
    chat = seed.create_conversation(title="Weekend plans", model="R1 Smol")
    seed.add_message(chat.id, "user", "Where can I see puffins in June?")
    other = seed.create_conversation(title="Groceries")
    seed.add_message(other.id, "user", "milk and eggs")
    seed.close()
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await wait_until(pilot, lambda: len(screen.sidebar.conversation_ids()) == 2)
        listing = screen.sidebar.query_one("#sidebar-list", OptionList)
        shown = str(listing.get_option_at_index(listing.get_option_index(chat.id)).prompt)
        assert "Weekend plans" in shown and "R1 Smol" in shown  # its model under the title
        screen.sidebar.query_one("#sidebar-filter", Input).value = "puff"
        await wait_until(pilot, lambda: screen.sidebar.conversation_ids() == [chat.id])
    store.close()


async def test_draft_survives_switching_chats(tmp_path):
    _, _, seed = make_app(tmp_path)
    first = seed.create_conversation(title="First")
    seed.add_message(first.id, "user", "hello")
    seed.close()
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.composer.text = "a draft for the new chat"
        await screen.open(first.id).wait()
        await pilot.pause()
        assert screen.composer.text == ""
        screen.composer.text = "a draft for First"
        await screen.action_new_chat()
        assert screen.composer.text == "a draft for the new chat"
        await screen.open(first.id).wait()
        assert screen.composer.text == "a draft for First"
    store.close()


async def test_a_model_that_fails_to_load_leaves_the_app_usable(tmp_path):
    _, _, seed = make_app(tmp_path)
    saved = seed.create_conversation(title="Saved chat")
    seed.add_message(saved.id, "user", "still here")
    seed.close()
    problem = ModelError("/models/broken.gguf is truncated: download it again.")
    app, _, store = make_app(tmp_path, failing=problem)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat(app)
        await wait_until(pilot, lambda: screen.status.state == "model failed")
        await wait_until(  # the notice is posted as a message: it shows a moment later
            pilot, lambda: any("truncated" in str(n.message) for n in app._notifications)
        )
        await screen.open(saved.id).wait()  # browsing still works
        assert [u.text for u in screen.conversation.query(UserMessage)] == ["still here"]
        await send(pilot, "hello?")
        assert screen.composer.text == "hello?"  # kept, not lost
        assert any("No model is loaded" in str(n.message) for n in app._notifications)
    store.close()


@pytest.mark.slow
async def test_long_conversations_render_lazily(tmp_path):
    _, _, seed = make_app(tmp_path)
    conversation = seed.create_conversation(title="Long")
    for index in range(500):
        seed.add_message(conversation.id, "user", f"question {index}\n\nwith\n\nlines")
        seed.add_message(conversation.id, "assistant", f"answer {index}\n\n- with\n- lines")
    seed.close()
    app, _, store = make_app(tmp_path, open_conversation=conversation.id)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        shown = lambda: len(screen.conversation.query(".user-message, .assistant-message"))  # noqa: E731
        view = screen.conversation
        await wait_until(pilot, lambda: view.max_scroll_y > 0 and not view._window.locked())
        first_shown = shown()  # a page, or two if one did not fill the view
        assert first_shown in (PAGE, 2 * PAGE)
        assert view.hidden_count == 1000 - first_shown
        assert replies(screen)[-1].answer.startswith("answer 499")
        await view.load_earlier()
        await pilot.pause()
        assert shown() == first_shown + PAGE
        first = view.query(".user-message").first(UserMessage)
        assert first.text.startswith(f"question {500 - (first_shown + PAGE) // 2}\n")
    store.close()


async def test_model_text_is_never_markup(tmp_path):
    hostile = (
        "[bold]not bold[/] [link=file:///etc/passwd]x[/link] [@click=app.quit]q[/] \x1b[31mred"
    )
    app, _, store = make_app(tmp_path, [Script(f"<think>{hostile}</think>{hostile}")])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, hostile)
        await wait_until(pilot, lambda: not screen.generating and bool(replies(screen)))
        user = screen.conversation.query_one(UserMessage)
        rendered = str(user.render())
        assert "[bold]not bold[/]" in rendered and "[@click=app.quit]q[/]" in rendered
        assert "\x1b" not in rendered
        reply = replies(screen)[0]
        assert not block_of(reply).body.query(Static)  # collapsed: not rendered yet
        block_of(reply).collapsed = False
        await pilot.pause()
        paragraph = block_of(reply).body.query(Static).first()
        assert "[link=file:///etc/passwd]x[/link]" in str(paragraph.render())
        rendered_answer = " ".join(str(b.render()) for b in reply.answer_view.query(ProseBlock))
        assert "\x1b" not in rendered_answer
        assert app.is_running  # the [@click=app.quit] text did nothing
    assert store.all_messages(latest_id(store))[0].content == hostile  # stored raw
    store.close()


@pytest.mark.slow
async def test_links_open_only_http_and_only_after_asking(tmp_path):
    opened: list[str] = []
    answer = (
        "See [docs](https://example.org), [this](file:///etc/passwd) and https://example.com/a."
    )
    app, _, store = make_app(tmp_path, [Script(answer), Script("No links here.")])
    app.open_url = lambda url, **kw: opened.append(url)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, "links please")
        await wait_until(pilot, lambda: not screen.generating and bool(replies(screen)))
        replies(screen)[0].focus()
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, LinkChooserScreen))
        assert isinstance(app.screen, LinkChooserScreen)
        assert app.screen.urls == ["https://example.org", "https://example.com/a"]  # no file://
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        assert opened == []
        replies(screen)[0].focus()
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, LinkChooserScreen))
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: opened == ["https://example.com/a"])
        await send(pilot, "and now?")
        await wait_until(pilot, lambda: not screen.generating and len(replies(screen)) == 2)
        replies(screen)[1].focus()
        await pilot.press("o")
        assert any("no web links" in str(n.message) for n in app._notifications)
    store.close()


@pytest.mark.slow
async def test_copy_answer_and_code_block(tmp_path):
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, "hi")
        await wait_until(pilot, lambda: not screen.generating and bool(replies(screen)))
        reply = replies(screen)[0]
        reply.focus()
        await pilot.press("y")
        assert app.clipboard == reply.answer
        await pilot.press("c")
        assert app.clipboard == "print('hi')\n"
    store.close()


@pytest.mark.slow
async def test_delete_a_message_after_confirming(tmp_path):
    app, _, store = make_app(tmp_path, [Script("first"), Script("second")])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        for text in ("q1", "q2"):
            await send(pilot, text)
            await wait_until(pilot, lambda: not screen.generating)
        replies(screen)[-1].focus()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: len(replies(screen)) == 1)
        assert [m.content for m in store.conversation(latest_id(store)).messages] == [
            "q1",
            "first",
            "q2",
        ]
    store.close()


@pytest.mark.slow
async def test_help_lists_every_binding_and_keymap_applies(tmp_path):
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "config.toml").write_text('[keymap]\n"chat.thinking" = "f5"\n')
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("f5")
        assert screen.thinking_mode == "hidden"
        await pilot.press("ctrl+t")  # remapped away
        assert screen.thinking_mode == "hidden"
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.rows
        keys = {row[0] for row in rows}
        assert {"ctrl+q", "escape", "ctrl+n", "f5", "ctrl+r", "ctrl+j", "enter"} <= keys
        assert all(row[3] for row in rows)  # every binding explains itself
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)
    for binding in ChatScreen.BINDINGS + list(type(app).BINDINGS):
        assert isinstance(binding, Binding) and binding.id and binding.tooltip
    store.close()


async def test_sidebar_toggles_and_hides_on_narrow_terminals(tmp_path):
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=(70, 30)) as pilot:
        screen = await ready(pilot)
        assert not screen.sidebar.display
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert screen.sidebar.display
        await pilot.press("ctrl+b")
        assert not screen.sidebar.display
        await pilot.press("ctrl+b")
        assert screen.sidebar.display
    store.close()


@pytest.mark.slow
async def test_composer_keys(tmp_path):
    app, engine, store = make_app(tmp_path, [Script("ok")])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.composer.focus()
        await pilot.press(*"line one", "ctrl+j", *"line two")
        assert screen.composer.text == "line one\nline two"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.generating and bool(replies(screen)))
        assert engine.requests[0].messages[-1].content == "line one\nline two"
        await pilot.press("enter")  # empty: nothing sent
        assert len(engine.requests) == 1
    store.close()


async def test_quit_while_answering_saves_the_partial_reply(tmp_path):
    app, _, store = make_app(tmp_path, [Script("<think>t</think>" + "word " * 200, gate_after=10)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await send(pilot, "long one")
        await wait_until(pilot, lambda: bool(replies(screen)) and bool(replies(screen)[0].answer))
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running)
    saved = store.conversation(latest_id(store)).messages
    assert saved[-1].status == "cancelled" and saved[-1].content.startswith("word")
    store.close()


async def test_the_model_loads_once_the_screen_is_drawn_and_is_said_loading_from_the_start(
    tmp_path,
):
    """The load's imports (llama.cpp, gguf, numpy) would hold up the first frame, so it
    starts once the screen is drawn; until then a message is kept as for a loading model."""
    import threading

    from textual.errors import NoWidget

    from r1chat.config import load_settings
    from r1chat.core.service import ChatService
    from r1chat.paths import Paths
    from r1chat.store import ChatStore
    from r1chat.ui.app import R1ChatApp
    from tests.scripted import ScriptedEngine

    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    store = ChatStore.open(paths)
    engine = ScriptedEngine([Script("Hello.")])
    seen: list[bool] = []
    release = threading.Event()

    def factory(model: str, n_ctx: int | None) -> ScriptedEngine:
        screen = app.screen
        try:
            screen.find_widget(chat(app).composer)
            seen.append(True)  # the message box had been laid out and drawn
        except NoWidget:
            seen.append(False)
        release.wait(10)
        return engine

    settings = load_settings(paths, {})
    app = R1ChatApp(settings, paths, ChatService(store, settings, factory), model="m.gguf")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat(app)
        assert screen.status.state == "loading model"
        assert screen._refusal("reply", "hi") == "The model is still loading; your message is kept."
        await wait_until(pilot, lambda: bool(seen))
        release.set()
        await wait_until(pilot, lambda: screen.engine is not None)
    store.close()
    assert seen == [True]


async def test_a_chat_opened_at_start_says_its_model_is_loading_until_it_is(tmp_path):
    """`r1chat -c`: reading the chat comes first, then its model loads; the bar says
    `loading model` from the first frame, not `idle · no model`."""
    import threading

    from r1chat.config import load_settings
    from r1chat.core.service import ChatService
    from r1chat.paths import Paths
    from r1chat.store import ChatStore
    from r1chat.ui.app import R1ChatApp
    from tests.scripted import ScriptedEngine

    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    store = ChatStore.open(paths)
    saved = store.create_conversation(title="Saved")
    store.add_message(saved.id, "user", "still here")
    release = threading.Event()

    def factory(model: str, n_ctx: int | None) -> ScriptedEngine:
        release.wait(10)
        return ScriptedEngine([Script("Hello.")])

    settings = load_settings(paths, {})
    service = ChatService(store, settings, factory)
    app = R1ChatApp(settings, paths, service, model="/m/chosen.gguf", open_conversation=saved.id)
    states: list[tuple[str, str]] = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat(app)
        states.append((screen.status.state, screen.status.model))
        await wait_until(pilot, lambda: bool(screen.conversation.query(UserMessage)))
        states.append((screen.status.state, screen.status.model))
        release.set()
        await wait_until(pilot, lambda: screen.engine is not None)
    store.close()
    assert states == [("loading model", "chosen.gguf")] * 2
