"""A frame of a streaming reply lays the screen out once, not twice."""

from __future__ import annotations

from typing import Any

from r1chat.core.events import PromptPlan
from r1chat.ui.widgets.answer import ProseBlock
from r1chat.ui.widgets.growing import ROOM_LINES, GrowingText
from r1chat.ui.widgets.sidebar import ConversationList
from tests.scripted import Script
from tests.tui_helpers import make_app, ready, wait_until


async def test_a_growing_answer_lays_the_screen_out_once_per_frame(tmp_path):
    """Textual set each resized widget's virtual size during layout through a reactive
    that asked for a second layout of the whole screen, which moved nothing and drew the
    reply again: each frame of a streaming answer (reply, answer, block, conversation
    and status parts all resize) cost two layouts."""
    app, _, store = make_app(tmp_path, [Script("unused")])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        reply = await screen.conversation.add_assistant()
        # The first text mounts the block and brings the scroll bar: layouts of their own.
        await reply.append_answer("The answer starts here and goes on. " * 100)
        await pilot.pause(0.2)
        assert screen.conversation.max_scroll_y > 0
        layouts: list[int] = []
        screen.screen_layout_refresh_signal.subscribe(screen, lambda _: layouts.append(1))
        frames = 8
        for frame in range(frames):
            # Each frame adds lines (the conversation scrolls), and the meter and speed
            # in the status bar change width, as they do while a reply streams.
            await reply.append_answer(f"Line {frame} of the answer, long enough to wrap. " * 12)
            screen.status.show_plan(PromptPlan(tokens=10**frame, n_ctx=10**9, reserve=0))
            screen.status.tokens_per_second = 10.0**frame
            await pilot.pause(0.15)
        await wait_until(pilot, lambda: reply.answer_view.source.count("Line") == 12 * frames)
        assert len(layouts) == frames
        conversation = screen.conversation
        assert conversation.scroll_y == conversation.max_scroll_y  # it followed the answer
        assert reply.answer_view.region.bottom <= conversation.region.bottom
    store.close()


async def test_a_frame_leaves_the_saved_chats_scroll_bar_alone(tmp_path, monkeypatch):
    """Every layout of the screen repainted the sidebar's scroll bar (the whole height of
    the list) in an update of its own, because Textual's scroll views compared the
    virtual size the layout passed them with their own and found them always different:
    a second screen update for every frame of a reply, on anyone with a week of chats."""
    app, _, store = make_app(tmp_path, [Script("unused")])
    for day in range(40):
        store.create_conversation(title=f"Saved chat {day}")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        chats = screen.sidebar.query_one(ConversationList)
        await wait_until(pilot, lambda: chats.option_count >= 40)
        await pilot.pause(0.2)
        bar = chats.vertical_scrollbar
        assert chats.show_vertical_scrollbar and bar.window_virtual_size > bar.window_size
        repaints: list[int] = []
        repaint = bar.refresh

        def counted(*args: Any, **kwargs: Any) -> Any:
            repaints.append(1)
            return repaint(*args, **kwargs)

        monkeypatch.setattr(bar, "refresh", counted)
        layouts: list[int] = []
        screen.screen_layout_refresh_signal.subscribe(screen, lambda _: layouts.append(1))
        reply = await screen.conversation.add_assistant()
        for frame in range(6):
            await reply.append_answer(f"Line {frame} of the answer, long enough to wrap. " * 12)
            screen.status.tokens_per_second = 10.0**frame
            await pilot.pause(0.15)
        assert len(layouts) >= 6 and not repaints
        # The list's own changes still move and size its scroll bar.
        lines = bar.window_virtual_size
        for day in range(40, 60):
            store.create_conversation(title=f"Saved chat {day}")
        screen.refresh_sidebar()
        await wait_until(pilot, lambda: chats.option_count >= 60)
        await pilot.pause(0.1)
        assert bar.window_virtual_size > lines and repaints
    store.close()


async def test_text_that_still_fits_its_room_repaints_without_a_layout(tmp_path):
    """A frame that added a few words to the answer (or the open reasoning) laid the whole
    screen out and moved the conversation: the text being written now grows into room
    laid out in steps of `ROOM_LINES`, so such a frame repaints its own lines; the room
    goes when the text is final."""
    app, _, store = make_app(tmp_path, [Script("unused")])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await ready(pilot)
        screen.set_thinking_mode("expanded")
        reply = await screen.conversation.add_assistant()
        reply.append_reasoning("Thinking")
        await pilot.pause(0.2)
        assert reply.reasoning_block is not None
        paragraph = reply.reasoning_block.body.query_one(GrowingText)
        layouts: list[int] = []
        screen.screen_layout_refresh_signal.subscribe(screen, lambda _: layouts.append(1))
        for _ in range(6):
            reply.append_reasoning(" on")
            await pilot.pause(0.1)
        assert "Thinking on on on on on on" in paragraph.render_line(0).text
        assert not layouts and paragraph.outer_size.height == ROOM_LINES
        await reply.append_answer("Words")
        await pilot.pause(0.2)
        assert paragraph.outer_size.height == 1  # the reasoning is over: no room kept
        block = reply.answer_view.query_one(ProseBlock)
        layouts.clear()
        for _ in range(6):
            await reply.append_answer(" and words")
            await pilot.pause(0.1)
        assert "Words and words and words" in block.render_line(0).text  # on screen
        assert not layouts and block.outer_size.height == ROOM_LINES
        conversation = screen.conversation
        assert reply.region.bottom <= conversation.region.bottom  # followed to the end
        # Outgrowing the room lays the screen out once, a step further.
        await reply.append_answer(" and more words" * 40)
        await pilot.pause(0.2)
        grown = block.outer_size.height
        assert len(layouts) == 1 and grown > ROOM_LINES and grown % ROOM_LINES == 0
        await reply.finish("done", None, None)
        await pilot.pause(0.2)
        assert grown - ROOM_LINES < block.outer_size.height < grown
        assert reply.region.bottom <= conversation.region.bottom
    store.close()
