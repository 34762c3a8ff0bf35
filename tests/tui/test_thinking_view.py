"""Thinking you can steer, in the app: the live preview, answer now, a budget, thinking off,
and reasoning you can copy and export (scripted engine, same steering as llama.cpp's)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Input, Switch

from r1chat.domain import GenerationParams
from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.screens.settings import ChatSettingsScreen
from r1chat.ui.widgets.messages import AssistantMessage
from tests.scripted import Script, ScriptedEngine
from tests.tui_helpers import block_of, latest_id, make_app, ready, wait_until

SIZE = (100, 30)
THOUGHT = (
    "<think>\nFirst I look at the question.\nThen I weigh the two answers.\n"
    + "More thinking here. " * 30
    + "\n</think>\n\nThe answer is **42**."
)


def footer_keys(app) -> set[str]:
    return {key.description for key in app.screen.query("FooterKey")}


async def start(pilot, screen: ChatScreen, text: str = "Why?") -> AssistantMessage:
    screen.composer.focus()
    screen.composer.text = text
    await pilot.press("enter")
    await wait_until(pilot, lambda: bool(screen.conversation.query(AssistantMessage)))
    return screen.conversation.query(AssistantMessage).last(AssistantMessage)


async def test_the_collapsed_block_previews_the_newest_line_and_counts_tokens(tmp_path):
    app, engine, store = make_app(tmp_path, [Script(THOUGHT, gate_after=16)])
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            reply = await start(pilot, screen)
            await wait_until(pilot, lambda: reply.preview.display)
            title = str(block_of(reply).title)
            assert title.startswith("Thinking… ") and " · " in title and title.endswith(" tokens")
            assert reply.live_tokens > 0 and f"{reply.live_tokens:,} tokens" in title
            preview = str(reply.preview.render())
            assert preview.startswith("Then I weigh")  # the newest line, not the first
            assert reply.reasoning.splitlines()[-1].strip() == preview.strip()
            await wait_until(pilot, lambda: "Answer now" in footer_keys(app))  # while it reasons
            engine.gate.set()
            await wait_until(pilot, lambda: not screen.generating)
            assert not reply.preview.display
            assert str(block_of(reply).title).startswith("Thought for ")
            await wait_until(pilot, lambda: "Answer now" not in footer_keys(app))
    finally:
        engine.gate.set()
        store.close()


async def test_the_title_says_thought_for_once_the_answer_streams(tmp_path):
    """While the answer streams the reasoning is over: its title stops saying `Thinking…`
    (and keeps counting nothing more), then takes the reply's exact figures at the end."""
    in_answer = (len(THOUGHT) - 10) // 4  # pieces of 4 characters: inside the answer
    app, engine, store = make_app(tmp_path, [Script(THOUGHT, gate_after=in_answer)])
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            reply = await start(pilot, screen)
            await wait_until(pilot, lambda: bool(reply.answer))
            await pilot.pause()
            assert screen.generating
            title = str(block_of(reply).title)
            assert title.startswith("Thought for ") and title.endswith(" tokens"), title
            assert f"{reply.live_tokens:,} tokens" in title
            engine.gate.set()
            await wait_until(pilot, lambda: not screen.generating)
            assert str(block_of(reply).title).startswith("Thought for ")
    finally:
        engine.gate.set()
        store.close()


async def test_hidden_mode_shows_a_one_line_indicator_until_the_answer(tmp_path):
    app, engine, store = make_app(tmp_path, [Script(THOUGHT, gate_after=20)])
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            screen.set_thinking_mode("hidden")
            reply = await start(pilot, screen)
            await wait_until(pilot, lambda: reply.preview.display)
            assert not block_of(reply).display
            assert str(reply.preview.render()).startswith("Thinking… ")
            engine.gate.set()
            await wait_until(pilot, lambda: not screen.generating)
            assert not reply.preview.display and "42" in reply.answer
    finally:
        engine.gate.set()
        store.close()


async def test_answer_now_ends_the_reasoning_and_the_reply_says_it_was_cut(tmp_path):
    slow = Script(THOUGHT, tokens_per_second=40)
    app, _, store = make_app(tmp_path, [slow])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        reply = await start(pilot, screen)
        await wait_until(pilot, lambda: screen.reasoning_now and reply.live_tokens > 2)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: not screen.generating)
        assert "42" in reply.answer
        assert reply.stats["reasoning_cut"] == "user"
        assert str(block_of(reply).title).endswith("· cut short")
        assert "More thinking here. " * 30 not in reply.reasoning  # it did not think it all
    saved = store.conversation(latest_id(store)).messages[-1]
    assert (
        (saved.stats or {})["reasoning_cut"] == "user" and saved.reasoning and "42" in saved.content
    )
    store.close()


@pytest.mark.slow
async def test_a_budget_and_thinking_off_from_the_chat_settings(tmp_path):
    app, engine, store = make_app(tmp_path, [Script(THOUGHT)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.action_chat_settings()
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen))
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ChatSettingsScreen)
        dialog.query_one("#settings-max-tokens", Input).value = "10"
        dialog.query_one("#settings-think-budget", Input).value = "50"
        dialog.action_save()
        await pilot.pause()
        problem = str(dialog.query_one("#settings-problem").render())
        assert "larger than max_tokens" in problem and app.screen is dialog  # refused
        assert isinstance(dialog, ChatSettingsScreen)
        dialog.query_one("#settings-max-tokens", Input).value = ""
        dialog.query_one("#settings-think-budget", Input).value = "6"
        dialog.action_save()
        await wait_until(pilot, lambda: screen.session.params.think_budget == 6)
        reply = await start(pilot, screen)
        await wait_until(pilot, lambda: not screen.generating)
        assert reply.stats["reasoning_tokens"] == 6 and reply.stats["reasoning_cut"] == "budget"
        assert str(block_of(reply).title).endswith("· budget reached")
        assert "42" in reply.answer
        # Thinking off: the switch in the same dialog.
        screen.action_chat_settings()
        await wait_until(pilot, lambda: isinstance(app.screen, ChatSettingsScreen))
        await pilot.pause()
        app.screen.query_one("#settings-thinking", Switch).value = False
        app.screen.action_save()
        await wait_until(pilot, lambda: not screen.session.params.thinking)
        reply = await start(pilot, screen, "Again")
        await wait_until(pilot, lambda: not screen.generating)
        assert reply.stats["thinking_off"] and not reply.reasoning
        assert str(block_of(reply).title) == "No reasoning (off)"
        assert engine.requests[-1].params.thinking is False
    record = store.conversation(latest_id(store), messages=False).params
    assert record["thinking"] is False and record["think_budget"] == 6  # saved with the chat
    store.close()


@pytest.mark.slow
async def test_copy_reasoning_and_export_one_reply_as_markdown(tmp_path, monkeypatch):
    app, _, store = make_app(tmp_path, [Script(THOUGHT)])
    copied: list[str] = []
    monkeypatch.setattr(type(app), "copy_to_clipboard", lambda self, text: copied.append(text))
    target = tmp_path / "exports" / "reply.md"
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        reply = await start(pilot, screen, "What is the answer?")
        await wait_until(pilot, lambda: not screen.generating)
        reply.focus()
        await pilot.press("r")
        assert copied and copied[-1].startswith("First I look at the question.")
        await pilot.press("e")
        await wait_until(pilot, lambda: app.screen.query("#dialog-input"))
        app.screen.query_one("#dialog-input", Input).value = str(target)
        await pilot.press("enter")
        await wait_until(pilot, lambda: target.exists())
    text = target.read_text(encoding="utf-8")
    assert "## Question\n\nWhat is the answer?" in text
    assert "## Thinking\n\nFirst I look at the question." in text
    assert "## Answer\n\nThe answer is **42**." in text
    assert target.stat().st_mode & 0o077 == 0  # private, like every chat file
    store.close()


async def test_a_model_that_does_not_reason_says_so_when_asked_to_stop_thinking(tmp_path):
    engine = ScriptedEngine([Script("Plain answer.")], reasoning=False)
    app, _, store = make_app(tmp_path, engine=engine)
    notices: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        monkey = app.notify
        app.notify = lambda message, **kw: (notices.append(str(message)), monkey(message, **kw))  # type: ignore[method-assign,assignment,func-returns-value]
        screen.action_toggle_think()
        assert any("does not reason" in n for n in notices)
        assert screen.session.params == replace(screen.session.params, thinking=True)
    assert GenerationParams().thinking
    store.close()
