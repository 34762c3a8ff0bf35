"""The app leaves the cores to a local CPU model: the UI thread's priority and frames while a
reply streams, input while it streams, and the terminal bench that measures it from outside."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from r1chat.ui import priority
from r1chat.ui.priority import ModelFirst
from r1chat.ui.reply_stream import MODEL_FIRST_BUDGET, UI_CPU_BUDGET
from r1chat.ui.widgets.messages import AssistantMessage
from tests.benchmarks import terminal
from tests.scripted import Script, ScriptedEngine
from tests.tui_helpers import make_app, ready, wait_until

SIZE = (100, 30)
LINUX = sys.platform.startswith("linux")


def nice() -> int:
    """The calling thread's own nice value (Linux keeps one per thread)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def expected_lowered(start: int) -> int:
    lowered = min(19, start + priority.NICE_STEP)
    return lowered if priority.can_restore(start, lowered) else start


@pytest.mark.skipif(not LINUX, reason="per-thread priorities are Linux's")
@pytest.mark.slow
async def test_the_ui_thread_gives_way_while_a_cpu_reply_streams_and_gets_its_priority_back(
    tmp_path,
):
    gated = Script("<think>hm</think>" + "word " * 40, gate_after=3)
    scripts = [gated, Script("x", error_after=0), gated, gated]
    app, engine, store = make_app(tmp_path, engine=ScriptedEngine(scripts, backend="CPU"))
    start = nice()

    async def begin(text: str) -> None:
        screen.composer.focus()
        screen.composer.text = text
        await pilot.press("enter")

    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            # A reply that ends on its own.
            await begin("Go")
            await wait_until(pilot, lambda: screen.generating)
            assert nice() == expected_lowered(start)
            engine.gate.set()
            await wait_until(pilot, lambda: not screen.generating)
            assert nice() == start
            # A reply that fails.
            await begin("Fail")
            last = lambda: screen.conversation.query(AssistantMessage).last()  # noqa: E731
            await wait_until(pilot, lambda: last().status == "error" and not screen.generating)
            assert nice() == start
            # A reply the user stops.
            engine.gate.clear()
            await begin("Stop this one")
            await wait_until(pilot, lambda: screen.generating)
            assert nice() == expected_lowered(start)
            await pilot.press("escape")
            assert screen.status.state == "stopped"  # said at once, before the model stops
            engine.gate.set()
            await wait_until(pilot, lambda: not screen.generating)
            assert last().status == "cancelled" and screen.status.state == "stopped"
            assert nice() == start
            # The app going while a reply streams.
            engine.gate.clear()
            await begin("Quit during this")
            await wait_until(pilot, lambda: screen.generating)
        assert nice() == start
    finally:
        engine.gate.set()
        store.close()


async def test_a_gpu_model_keeps_full_frame_rates_and_the_ui_its_priority(tmp_path):
    engine = ScriptedEngine([Script("<think>a</think>" + "b " * 40, gate_after=3)], backend="CUDA")
    app, _, store = make_app(tmp_path, engine=engine)
    start = nice() if LINUX else None
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await ready(pilot)
            screen.composer.text = "Go"
            screen.composer.focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: screen.generating and screen._stream is not None)
            stream = screen._stream
            assert stream is not None and stream._budget == UI_CPU_BUDGET
            assert start is None or nice() == start
            engine.gate.set()
            await wait_until(pilot, lambda: not screen.generating)
    finally:
        engine.gate.set()
        store.close()
    assert MODEL_FIRST_BUDGET < UI_CPU_BUDGET


@pytest.mark.slow
async def test_typing_works_while_a_reply_streams(tmp_path):
    slow = Script(
        "<think>" + "thinking " * 200 + "</think>" + "answer " * 200, tokens_per_second=60
    )
    app, _, store = make_app(tmp_path, engine=ScriptedEngine([slow], backend="CPU"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot)
        screen.composer.text = "Tell me a story"
        screen.composer.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.generating)
        await pilot.press(*"next question")
        assert screen.composer.text == "next question"
        assert screen.generating  # typed while the model was still writing
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.generating)
        assert screen.composer.text == "next question"  # Esc stopped the reply, kept the draft
    store.close()


def test_the_priority_is_never_lowered_where_it_could_not_be_put_back(monkeypatch):
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(priority, "_native_priorities", lambda: True)
    monkeypatch.setattr(os, "getpriority", lambda which, who: 0)

    def refuse_raising(which: int, who: int, value: int) -> None:
        if value < 5 and calls:  # like Linux without RLIMIT_NICE: down is allowed, up is not
            raise PermissionError("not permitted")
        calls.append((who, value))

    monkeypatch.setattr(os, "setpriority", refuse_raising)
    priority.can_restore.cache_clear()
    try:
        guard = ModelFirst()
        guard.lower()
        assert len(calls) == 1  # the probe thread went down and could not come back
        assert calls[0][0] != threading.get_native_id()
        assert not guard.active  # so the UI thread was left alone
        guard.restore()
        assert len(calls) == 1
    finally:
        priority.can_restore.cache_clear()


def fake_priorities(monkeypatch, start: int) -> dict[int, int]:
    """Per-thread nice values kept in a dict (every thread starts at `start`), as a Linux
    that lets them go down and up again would keep them."""
    values: dict[int, int] = {}
    monkeypatch.setattr(priority, "_native_priorities", lambda: True)
    monkeypatch.setattr(os, "getpriority", lambda which, who: values.get(who, start))
    monkeypatch.setattr(os, "setpriority", lambda which, who, value: values.__setitem__(who, value))
    priority.can_restore.cache_clear()
    return values


def test_the_priority_is_lowered_and_put_back_where_the_system_allows(monkeypatch):
    values = fake_priorities(monkeypatch, 2)
    try:
        guard = ModelFirst()
        guard.lower()
        me = threading.get_native_id()
        assert values[me] == 2 + priority.NICE_STEP
        guard.lower()  # twice is once
        guard.restore()
        assert values[me] == 2 and not guard.active
    finally:
        priority.can_restore.cache_clear()


def test_input_gives_the_ui_thread_its_priority_back_until_it_has_been_quiet(monkeypatch):
    values = fake_priorities(monkeypatch, 0)
    try:
        guard = ModelFirst()
        guard.lower()
        me = threading.get_native_id()
        assert values[me] == priority.NICE_STEP and guard.lowered
        reader = threading.Thread(target=guard.wake)  # as the terminal's reader thread does
        reader.start()
        reader.join()
        assert values[me] == 0 and not guard.lowered and guard.active
        guard.settle()  # input was just now: it keeps its priority
        assert values[me] == 0
        monkeypatch.setattr(priority, "WAKE_HOLD", 0.0)
        guard.settle()
        assert values[me] == priority.NICE_STEP and guard.lowered
        guard.restore()
        assert values[me] == 0 and not guard.active
        guard.wake()  # no reply streams: nothing changes
        assert values[me] == 0
    finally:
        priority.can_restore.cache_clear()


@pytest.mark.slow
def test_the_terminal_bench_runs_the_real_app_in_a_pseudo_terminal(
    smollm2_path, tmp_path, monkeypatch
):
    # Long enough that Esc (sent once the status bar, which updates twice a second, has
    # counted 8 tokens) lands mid-reply even on a fast machine.
    monkeypatch.setattr(terminal, "TOKENS", 400)
    monkeypatch.setattr(terminal, "STOP_AFTER_TOKENS", 8)
    prompt, name, n_ctx = terminal.bench_prompt(smollm2_path)
    assert terminal.PROMPT in prompt and name
    run = terminal._app_run(tmp_path / "answer", smollm2_path, None, press_esc=False)
    assert 0 < run.tokens <= 400 and run.tokens_per_second > 0
    assert run.ui_cpu > 0 and run.frames_per_second > 0
    stopped = terminal._app_run(tmp_path / "esc", smollm2_path, None, press_esc=True)
    assert stopped.stop_seconds is not None and stopped.stop_seconds > 0
    assert stopped.tokens < 400  # Esc really stopped it
    assert terminal._bare(smollm2_path, 1, prompt, n_ctx) > 0


def test_the_bench_measures_every_thread_count_up_to_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    assert terminal.thread_counts(6) == [1, 2, 4, 6]
    assert terminal.thread_counts(3) == [1, 2, 3, 4, 6]


def test_the_terminal_driver_wakes_the_ui_thread_before_passing_input_on(tmp_path, monkeypatch):
    from textual import events
    from textual.app import App

    app, _, store = make_app(tmp_path)
    woken: list[bool] = []
    passed: list[object] = []
    monkeypatch.setattr(app.model_first, "wake", lambda: woken.append(True))
    driver_class = app.get_driver_class()
    base = App.get_driver_class(app)  # the platform's own
    assert issubclass(driver_class, base) and driver_class is not base
    monkeypatch.setattr(base, "send_message", lambda self, message: passed.append(message))
    driver = driver_class.__new__(driver_class)
    driver.send_message(events.Key("escape", None))
    assert woken == [True] and len(passed) == 1
    driver.send_message(events.Resize.from_dimensions((80, 24), None))
    assert woken == [True] and len(passed) == 2  # only input wakes it
    store.close()
