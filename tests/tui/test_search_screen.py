"""Search inside the app: results as you type, highlighted hits as plain content, the
reasoning switch, and Enter opening the chat at the hit (even on an older page)."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.content import Content
from textual.widgets import Input, OptionList, Switch

from r1chat.ui.screens.search import SearchScreen
from r1chat.ui.widgets.messages import AssistantMessage, UserMessage
from tests.tui_helpers import make_app, ready, wait_until

SIZE = (110, 32)


def seed(store) -> str:
    long = store.create_conversation("[bold]Lighthouse[/] notes", model="scripted")
    for index in range(30):
        store.add_message(long.id, "user", f"Question {index} about the sea")
        answer = "The keeper saw a narwhal." if index == 3 else f"Answer {index}."
        store.add_message(long.id, "assistant", answer, reasoning=f"thought {index} about krill")
    other = store.create_conversation("Bread", model="scripted")
    store.add_message(other.id, "user", "How long to proof dough?")
    store.add_message(other.id, "assistant", "About an hour.")
    return str(long.id)


@pytest.mark.slow
async def test_search_as_you_type_and_open_the_chat_at_the_hit(tmp_path):
    app, _, store = make_app(tmp_path)
    long_id = seed(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
        search = app.screen
        await pilot.press(*"narwh")
        results = search.query_one("#search-results", OptionList)
        await wait_until(pilot, lambda: results.option_count == 1)
        shown = results.get_option_at_index(0).prompt
        assert isinstance(shown, Content | Text)
        assert "[bold]Lighthouse[/] notes" in shown.plain  # a title is text, not markup
        assert any("reverse" in str(span.style) for span in shown.spans)  # the hit stands out
        # The reasoning switch.
        search.query_one("#search-input", Input).value = "krill"
        await wait_until(
            pilot, lambda: "Nothing matches" in str(search.query_one("#search-status").render())
        )
        search.query_one("#search-reasoning", Switch).value = True
        await wait_until(pilot, lambda: results.option_count > 0)
        assert "in the thinking" in str(results.get_option_at_index(0).prompt)
        # Enter opens the chat scrolled to the hit, on an older page than the newest.
        search.query_one("#search-input", Input).value = "narwhal"
        await wait_until(
            pilot,
            lambda: (
                results.option_count == 1
                and "narwhal" in str(results.get_option_at_index(0).prompt)
            ),
        )
        await pilot.press("enter", "enter")
        await wait_until(pilot, lambda: screen.session.conversation_id == long_id)
        await wait_until(pilot, lambda: isinstance(app.focused, AssistantMessage))
        assert isinstance(app.focused, AssistantMessage)
        assert app.focused.answer == "The keeper saw a narwhal."
        assert any(
            isinstance(w, UserMessage) and "Question 3 " in w.text
            for w in screen.conversation.children
        )
    store.close()
