"""The thinking clock starts when the prompt is read, not before; a failed reply keeps its
reason on the message after the notice fades, and after the chat is opened again."""

from __future__ import annotations

import asyncio

import pytest

from r1chat.core.events import Progress, ReasoningDelta
from r1chat.ui.reply_stream import STOPPING_POLL, ReplyStream
from r1chat.ui.widgets.messages import AssistantMessage, stats_line
from r1chat.ui.widgets.reasoning import thinking_title
from tests.scripted import Script, ScriptedEngine
from tests.tui_helpers import latest_id, make_app, ready, send, wait_until


class Widget:
    """What a reply stream draws into, remembered."""

    def __init__(self) -> None:
        self.ticks: list[float | None] = []
        self.reasoning = ""

    def tick(self, seconds: float | None) -> None:
        self.ticks.append(seconds)

    def append_reasoning(self, text: str, tokens: int = 0) -> None:
        self.reasoning += text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reading_the_prompt_is_not_counted_as_thinking(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("r1chat.ui.reply_stream.time.monotonic", clock)
    widget = Widget()
    states: list[str] = []

    async def done(*_: object) -> None: ...

    stream = ReplyStream(
        widget,  # type: ignore[arg-type]
        lambda delay, callback: None,
        states.append,
        lambda speed: None,
        done,
    )

    async def frames() -> None:
        stream.events.append(Progress(6, 50))
        clock.now += 115.8  # a long prompt on a slow machine
        await stream.flush()
        stream.events.append(Progress(50, 50))
        clock.now += 0.5
        await stream.flush()
        clock.now += 2.0
        stream.events.append(ReasoningDelta("Let me think."))
        await stream.flush()

    asyncio.run(frames())
    assert widget.ticks[0] is None  # still reading: no thinking time at all
    assert widget.ticks[1] == 0.0  # read: the clock starts
    assert states[0] == "reading prompt 6 / 50 tokens"
    assert thinking_title(None, 6, live=True, empty=False, budget=50) == "Thinking… 6 / 50 tokens"
    assert thinking_title(2.0, 6, live=True, empty=False) == "Thinking… 2.0 s · 6 tokens"


def test_the_clock_starts_at_the_first_reasoning_when_no_progress_comes(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("r1chat.ui.reply_stream.time.monotonic", clock)
    widget = Widget()

    async def done(*_: object) -> None: ...

    stream = ReplyStream(widget, lambda d, c: None, lambda s: None, lambda s: None, done)  # type: ignore[arg-type]

    async def frames() -> None:
        clock.now += 30.0
        await stream.flush()
        stream.events.append(ReasoningDelta("Hm."))
        await stream.flush()
        clock.now += 1.5
        await stream.flush()

    asyncio.run(frames())
    assert widget.ticks == [None, 0.0, 1.5]  # from the first reasoning on


def test_a_failure_reads_as_its_reason():
    assert stats_line({"error": "server closed the stream"}, "error") == (
        "failed: server closed the stream"
    )
    assert stats_line({"error": "a\x1b[31m\nb"}, "error") == "failed: a b"
    assert stats_line({"error": "cut"}, "interrupted") == "failed: cut"
    assert stats_line(None, "error") == "error"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_failed_reply_keeps_its_reason_on_the_message(tmp_path, size):
    engine = ScriptedEngine([Script("<think>Hmm, let me see", error_after=2)])
    app, _, store = make_app(tmp_path, engine=engine)
    async with app.run_test(size=size) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "Hello")
        reply = screen.conversation.query(AssistantMessage).first()
        assert "failed: the scripted model failed" in str(reply.footer.render())
        await wait_until(pilot, lambda: all(screen.session.message_ids))
        chat = latest_id(store)
        await screen.action_new_chat()
        await pilot.pause()
        screen.open(chat)
        await wait_until(pilot, lambda: screen.session.conversation_id == chat)
        await wait_until(pilot, lambda: bool(screen.conversation.query(AssistantMessage)))
        reopened = screen.conversation.query(AssistantMessage).first()
        await wait_until(pilot, lambda: "failed: the scripted" in str(reopened.footer.render()))
    store.close()


async def test_an_engine_that_raises_mid_reply_leaves_its_reason_saved(tmp_path):
    from r1chat.errors import R1ChatError

    engine = ScriptedEngine([Script("<think>Hmm, thinking hard about it all", piece_size=2)])
    app, _, store = make_app(tmp_path, engine=engine)
    stream = engine.stream

    def failing(request, cancel=None):
        for count, event in enumerate(stream(request, cancel)):
            if count == 4:
                raise R1ChatError("The server went away mid-reply.")
            yield event

    engine.stream = failing  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await send(pilot, screen, "Hello")
        reply = screen.conversation.query(AssistantMessage).first()
        assert "failed: The server went away mid-reply." in str(reply.footer.render())
    saved = store.conversation(latest_id(store)).messages[-1]
    assert saved.status == "interrupted"  # what came before the failure is kept
    assert saved.stats is not None and saved.stats["error"] == "The server went away mid-reply."
    store.close()


def test_a_reply_shows_as_finished_at_once_not_at_the_next_frame():
    """The worker wakes the stream when the reply ends: the last frame is drawn now, not
    when the frame timer (up to half a second away on a busy UI) comes round."""
    from r1chat.ui.reply_stream import ReplyDone

    timers: list[tuple[float, object]] = []

    class Timer:
        def __init__(self, delay: float, callback: object) -> None:
            self.delay, self.callback, self.stopped = delay, callback, False
            timers.append((delay, callback))

        def stop(self) -> None:
            self.stopped = True

    finished: list[ReplyDone] = []

    async def done(widget: object, reply: ReplyDone) -> None:
        finished.append(reply)

    stream = ReplyStream(
        Widget(),  # type: ignore[arg-type]
        Timer,
        lambda state: None,
        lambda speed: None,
        done,
    )
    stream.start()
    first = stream._timer
    assert timers[-1][0] > 0  # the next frame is a frame away
    stream.events.append(ReplyDone(None, "stopped"))
    stream.wake()
    assert first.stopped and timers[-1][0] <= 0.001  # redrawn at once

    async def fire() -> None:
        await timers[-1][1]()  # type: ignore[operator]

    asyncio.run(fire())
    assert len(finished) == 1 and stream.done
    stream.wake()  # after the end: nothing more to draw
    assert len(timers) == 2


def test_a_stopped_reply_draws_nothing_until_the_screen_says_it_stopped():
    """Esc sets the bar to `stopped` at once, but a frame of the reply drawn before the
    next screen update (the stream looked for the end every 10 ms) held that word back by
    the frame's work: now no frame is drawn, not even for the reply's end, until the chat
    screen calls `look_for_end` after the screen has been updated."""
    timers: list[Timer] = []

    def set_timer(delay: float, callback: object) -> Timer:
        timers.append(Timer(delay))
        return timers[-1]

    async def done(*_: object) -> None: ...

    stream = ReplyStream(Widget(), set_timer, lambda s: None, lambda s: None, done)  # type: ignore[arg-type]
    stream.start()
    try:
        stream.stopping()
        assert len(timers) == 1 and timers[0].stopped
        stream.wake()  # the reply ended meanwhile
        assert len(timers) == 1
        stream.look_for_end()
        assert len(timers) == 2 and timers[1].delay == STOPPING_POLL
    finally:
        stream.release()


class Timer:
    """A timer that remembers its delay and whether it was stopped."""

    def __init__(self, delay: float) -> None:
        self.delay, self.stopped = delay, False

    def stop(self) -> None:
        self.stopped = True
