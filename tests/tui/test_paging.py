"""Paging a long chat to its first message by key, wheel and scrollbar drag."""

from __future__ import annotations

import pytest
from textual import events

from r1chat.paths import Paths
from r1chat.ui.widgets.messages import UserMessage
from tests.benchmarks.stall import seed_long_chat
from tests.tui_helpers import make_app, ready, wait_until


def long_chat(tmp_path, messages: int) -> str:
    return seed_long_chat(Paths.from_env({"R1CHAT_HOME": str(tmp_path)}), messages)


def first_text(view) -> str:
    return str(view.query(UserMessage).first().text)


async def settled(pilot, view) -> None:
    await wait_until(pilot, lambda: not view._window.locked())
    await pilot.pause()


async def to_the_top(pilot, view, step, most: int) -> int:
    """Do `step` until message 0 is shown at the top; how many steps it took."""
    for count in range(1, most):
        await step()
        await settled(pilot, view)
        if view._start == 0 and view.scroll_y == 0:
            return count
    raise AssertionError(f"paging stopped at {first_text(view)!r} (start {view._start})")


async def opened(pilot, app):
    screen = await ready(pilot)
    view = screen.conversation
    await wait_until(pilot, lambda: view.max_scroll_y > 0)
    await settled(pilot, view)
    app.animation_level = "none"  # a page scrolls at once: the test takes less time
    view.focus()
    return view


@pytest.mark.slow
async def test_page_up_alone_pages_a_2000_message_chat_to_its_first_message(tmp_path):
    app, _, store = make_app(tmp_path, open_conversation=long_chat(tmp_path, 2000))
    async with app.run_test(size=(80, 24)) as pilot:
        view = await opened(pilot, app)

        async def page_up() -> None:
            await pilot.press("pageup")

        await to_the_top(pilot, view, page_up, 2000)
        assert first_text(view).startswith("Message 0 ")
    store.close()


@pytest.mark.slow
async def test_key_wheel_and_scrollbar_reach_the_first_message_at_120x40(tmp_path):
    app, _, store = make_app(tmp_path, open_conversation=long_chat(tmp_path, 150))
    async with app.run_test(size=(120, 40)) as pilot:
        view = await opened(pilot, app)

        async def page_up() -> None:
            await pilot.press("pageup")

        async def wheel_up() -> None:
            view.post_message(events.MouseScrollUp(view, 1, 1, 0, -1, 0, False, False, False))
            await pilot.pause()

        async def drag_to_top() -> None:  # what dragging the scrollbar's thumb up does
            view.scroll_to(y=0, animate=False, immediate=True)

        for step in (page_up, wheel_up, drag_to_top):
            await to_the_top(pilot, view, step, 1000)
            assert first_text(view).startswith("Message 0 "), step
            await view.action_last()
            await settled(pilot, view)
            assert view._end == 150 and view._start > 0
    store.close()
