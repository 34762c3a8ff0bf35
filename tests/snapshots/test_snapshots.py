"""Snapshots of the key screens at a fixed size, once per bundled theme.

Update them after a deliberate change with `pytest tests/snapshots --snapshot-update`
and look at the report before committing.
"""

from __future__ import annotations

import pytest

from r1chat.ui.screens.chat import ChatScreen
from r1chat.ui.widgets.reasoning import ThinkingMode
from tests.tui_helpers import chat_screen, make_app, wait_until

SIZE = (110, 34)
THEMES = ["r1-dark", "r1-light", "r1-high-contrast"]
ANSWER = """Short answer: **Rayleigh scattering**.

Sunlight holds every colour; air molecules scatter short wavelengths far more:

| colour | wavelength | scattered |
|---|---|---|
| blue | 450 nm | a lot |
| red | 700 nm | little |

```python
def relative_scattering(nm: float) -> float:
    return (700 / nm) ** 4
```
"""
REASONING = (
    "The user asks why the sky is blue. Rayleigh scattering goes as one over the "
    "wavelength to the fourth power.\n\nBlue light (450 nm) scatters about 5.8 times more "
    "than red (700 nm). Mention sunsets briefly."
)


NOW = 1_790_000_000.0  # the sidebar's clock, in UTC: its times and groups stay put


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    import time

    from r1chat.ui.widgets import sidebar

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(sidebar, "now", lambda: NOW)
    yield
    monkeypatch.undo()
    time.tzset()


def seeded(tmp_path, title="Why is the sky blue?"):
    app, _, store = make_app(tmp_path)
    other = store.create_conversation(title="Sourdough starter schedule")
    store.add_message(other.id, "user", "How often do I feed a starter?")
    conversation = store.create_conversation(title=title, model="DeepSeek R1 Distill Qwen 7B")
    store.add_message(conversation.id, "user", "Why is the sky blue?")
    store.add_message(
        conversation.id,
        "assistant",
        ANSWER,
        reasoning=REASONING,
        stats={
            "had_reasoning": True,
            "reasoning_seconds": 12.4,
            "reasoning_tokens": 312,
            "answer_tokens": 140,
            "prompt_tokens": 14,
            "tokens_per_second": 38.5,
            "finish_reason": "stop",
        },
    )
    app.open_conversation = conversation.id
    with store.transaction() as db:  # yesterday evening and an hour ago
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (NOW - 50_000, other.id))
        db.execute(
            "UPDATE conversations SET updated_at = ? WHERE id = ?", (NOW - 3_600, conversation.id)
        )
    return app, store


def before(theme: str, mode: ThinkingMode | None = None):
    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen = chat_screen(app)
        await wait_until(pilot, lambda: screen.engine is not None)
        # The chat list and the context meter fill in from workers: wait for both.
        await wait_until(pilot, lambda: len(screen.sidebar.conversation_ids()) == 2)
        await wait_until(pilot, lambda: screen.status.context_used > 0)
        app.theme = theme
        screen.composer.cursor_blink = False
        if mode is not None:
            screen.conversation.apply_mode(mode)
        await pilot.pause()
        screen.conversation.scroll_home(animate=False, immediate=True)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.slow
def test_conversation_with_reasoning_collapsed(theme, tmp_path, snap_compare):
    """You should see the sidebar with two chats (the open one highlighted), the question in
    a tinted box, a collapsed "Thought for 12.4 s · 312 tokens" block, the Markdown answer
    with a table and a highlighted Python block, the message box, a status bar reading
    "idle · Scripted R1 · CPU · ctx 466/4,096 · 38.5 tok/s", and the key footer."""
    app, store = seeded(tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=before(theme))
    store.close()


def test_conversation_with_reasoning_expanded(tmp_path, snap_compare):
    """You should see the reasoning block open above the answer: two dimmed paragraphs
    with a rule on their left, then the answer."""
    app, store = seeded(tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=before("r1-dark", "expanded"))
    store.close()


def test_conversation_with_reasoning_hidden(tmp_path, snap_compare):
    """You should see no reasoning block at all: the answer follows the question directly."""
    app, store = seeded(tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=before("r1-dark", "hidden"))
    store.close()


def test_narrow_terminal_hides_the_sidebar(tmp_path, snap_compare):
    """You should see the conversation using the whole 70-column width, no sidebar."""
    app, store = seeded(tmp_path)
    assert snap_compare(app, terminal_size=(70, 30), run_before=before("r1-dark"))
    store.close()


def test_help_screen(tmp_path, snap_compare):
    """You should see a dialog listing keys, actions, where they work and what they do."""
    app, store = seeded(tmp_path)

    async def run_before(pilot) -> None:
        await before("r1-dark")(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    store.close()


def with_replies(tmp_path, replies):
    """The seeded app with extra replies in its bread chat: (model, speed, when, read,
    thinking, answer) each, at fixed times."""
    app, store = seeded(tmp_path)
    chat = next(c.id for c in store.list_conversations() if c.title.startswith("Sourdough"))
    for model, speed, when, read, thinking, answer in replies:
        message = store.add_message(
            chat,
            "assistant",
            "ok",
            model=model,
            stats={
                "prompt_tokens": read,
                "reasoning_tokens": thinking,
                "answer_tokens": answer,
                "reasoning_seconds": 30.0,
                "generation_seconds": 45.0,
                "tokens_per_second": speed,
                "time_to_first_token": 1.5,
            },
        )
        with store.transaction() as db:
            db.execute("UPDATE messages SET created_at = ? WHERE id = ?", (when, message.id))
    with store.transaction() as db:  # where `seeded` left it in the chat list
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (NOW - 50_000, chat))
        # `seeded`'s own reply was saved on today's real clock: move it to the fixed one.
        db.execute("UPDATE messages SET created_at = ? WHERE created_at > ?", (NOW - 3_600, NOW))
    return app, store


def with_usage(tmp_path):
    """The seeded app, with ten days of replies from two models (fixed times and speeds)."""
    replies = []
    for day in range(10):
        when = NOW - (9 - day) * 86_400
        replies.append(
            ("r1-7b", 9.0 + day % 3, when, 400 + 50 * day, 300 + 40 * day, 120 + 10 * day)
        )
        if not day % 2:
            replies.append(
                ("SmolLM2-135M-Instruct.Q4_1", 80.0, when, 400 + 50 * day, 0, 120 + 10 * day)
            )
    return with_replies(tmp_path, replies)


def usage_before(size):
    async def run_before(pilot) -> None:
        from r1chat.ui.screens.stats import StatsScreen

        await before("r1-dark")(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, StatsScreen))
        await wait_until(pilot, lambda: pilot.app.screen.report is not None)
        await pilot.pause()

    return run_before


def with_one_day(tmp_path):
    """The seeded app with one day of replies: two models, three replies each."""
    replies = [
        (model, speed, NOW - 3_000 - index * 60, 900, 1500 if model == "r1-7b" else 0, 400)
        for model, speeds in (
            ("r1-7b", (8.0, 9.0, 30.0)),
            ("SmolLM2-135M-Instruct.Q4_1", (60.0, 63.3, 90.0)),
        )
        for index, speed in enumerate(speeds)
    ]
    return with_replies(tmp_path, replies)


def test_usage_screen_with_one_day(tmp_path, snap_compare):
    """You should see, at 80x24, one day of usage drawn as a bar, not a block filling the
    plot: under "Tokens", one stacked bar at the left with its date under it and counts on
    the y axis written with separators (7,352, not 7352.0)."""
    app, store = with_one_day(tmp_path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=usage_before((80, 24)))
    store.close()


async def test_one_days_speed_is_a_bar_per_model_with_the_median_stats_gives(tmp_path):
    """The speed tab over one day: a bar per model, each labelled with the median speed
    `r1chat stats` gives it (SmolLM2 63.3, not total tokens over total time)."""
    import re

    app, store = with_one_day(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await usage_before((80, 24))(pilot)
        await pilot.press("right")
        plot = pilot.app.screen.query_one("#plot-speed")
        await wait_until(pilot, lambda: plot.size.width > 0)
        await pilot.pause(0.3)
        text = re.sub(r"<[^>]+>", "", pilot.app.export_screenshot()).replace("&#160;", " ")
        assert "Tokens per second (the median reply)" in text
        assert "63.3" in text and "9.0" in text and "38.5" in text
        assert "63.3000" not in text and "9.0000" not in text
    store.close()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_usage_screen(size, tmp_path, snap_compare):
    """You should see a dialog titled "Usage" in its top border: a line with 16 replies,
    tokens read, thinking and answer, then what they would have cost on DeepSeek's API and
    on OpenAI o1 with each price's date; tabs "Tokens", "Speed" and "API bill not paid";
    under the first, "Tokens written per day" as ten stacked bars (thinking and answer in
    two colours, with a legend) labelled by date; and "←/→ switch plots · Esc close" in the
    bottom border."""
    app, store = with_usage(tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=usage_before(size))
    store.close()


SMALL = (80, 24)


def opened(what: str):
    """After the seeded chat is up at 80x24: open one screen or dialog, as a user would."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await before("r1-dark")(pilot)
        screen = chat_screen(app)
        if what == "help":
            await pilot.press("f1")
        elif what == "settings":
            await pilot.press("f2")
        elif what == "memory":
            await pilot.press("f3")
        elif what == "search":
            await pilot.press("ctrl+f")
            await pilot.pause()
            await pilot.press(*"sky")
            await pilot.pause(0.3)
        elif what == "rename":
            screen.post_message(
                screen.sidebar.RenameRequested(screen.session.conversation_id or "")
            )
        elif what == "delete":
            screen.post_message(
                screen.sidebar.DeleteRequested(screen.session.conversation_id or "")
            )
        elif what == "links":
            from r1chat.ui.screens.links import offer_links

            offer_links(
                app, ["https://en.wikipedia.org/wiki/Rayleigh_scattering", "https://x.test/"]
            )
        await wait_until(pilot, lambda: app.screen is not screen or what == "chat")
        await pilot.pause(0.2)

    return run_before


SCREENS = {
    "chat": "the chat with no sidebar (it starts hidden below 100 columns): the question, a "
    "collapsed block 'Thought for 12.4 s · 312 tokens', the answer with a table and code, the "
    "message box, the status bar (idle, model, backend, context meter) and the footer",
    "help": "the help dialog listing keys, actions, where they work and their ids",
    "settings": "the chat settings dialog (F2): the model, this chat's usage and price, the "
    "system prompt box, temperature 0.6 and top_p 0.95",
    "memory": "the memory dialog (F3): its title, an empty table (#, on, fact) and "
    "'a add · e edit · space on/off · d delete · Esc close'",
    "search": "the search dialog with 'sky' typed: the hit in the message and the hit in the "
    "title, each highlighted, and '2 matches'",
    "rename": "a dialog asking for the new title, with 'Why is the sky blue?' in its box",
    "delete": "a dialog asking to delete 'Why is the sky blue?' (2 messages)",
    "links": "a dialog listing the two links to choose from",
}


@pytest.mark.slow
@pytest.mark.parametrize("what", list(SCREENS))
def test_every_screen_and_dialog_at_80x24(what, tmp_path, snap_compare):
    """You should see, at 80x24, each screen or dialog as the parametrised id says (the
    SCREENS table above says what each one shows)."""
    app, store = seeded(tmp_path)
    assert snap_compare(app, terminal_size=SMALL, run_before=opened(what))
    store.close()
