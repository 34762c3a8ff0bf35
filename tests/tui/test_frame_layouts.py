"""A frame of a streaming reply lays the screen out once, not twice."""

from __future__ import annotations

from r1chat.core.events import PromptPlan
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
