"""Threads on a busy machine: the pilot steps llama.cpp's thread count down while other
programs keep a core busy (or the workers stall) and back up when the machine is quiet;
the real engine applies its choice to llama.cpp between tokens and reports it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.events import Finished
from r1chat.models.hardware import default_threads
from r1chat.models.threads import PROBE_EVERY, WINDOW, OthersLoad, ThreadPilot

FAST = 0.005  # seconds a token with every core free
Machine = Callable[[int], float]


def quiet(count: int) -> float:
    """Two cores, nothing else running: two threads are 1.6x as fast as one."""
    return FAST if count == 2 else FAST * 1.6


def scaled(scale: float, count: int) -> float:
    """The quiet machine with every token `scale` times slower (a longer context)."""
    return quiet(count) * scale


def one_core_busy(count: int) -> float:
    """One of two cores is busy elsewhere: two threads wait for each other at every step."""
    return FAST * 12 if count == 2 else FAST * 1.7


def run(pilot: ThreadPilot, machine: Machine, tokens: int) -> float:
    """Generate `tokens` tokens on `machine` under `pilot`: the seconds they take."""
    total = 0.0
    for _ in range(tokens):
        seconds = machine(pilot.current)
        total += seconds
        pilot.token(seconds)
    return total


def test_a_quiet_machine_keeps_every_core():
    pilot = ThreadPilot(2, base_why="one thread per core")
    for _ in range(5):
        assert pilot.before_reply(0.05) == 2
        run(pilot, quiet, 300)
        assert pilot.current == 2
    assert pilot.describe() == "2 threads (one thread per core)"


def test_a_stall_mid_reply_steps_down_and_the_full_count_comes_back_when_quiet():
    pilot = ThreadPilot(2, base_why="one thread per core")
    pilot.before_reply(0.0)
    run(pilot, quiet, 1 + WINDOW * 3)  # a reply's first token is not timed
    assert pilot.current == 2
    run(pilot, one_core_busy, WINDOW)  # a build starts: the next window stalls
    assert pilot.current == 1
    assert "stalled" in pilot.describe() and pilot.describe().startswith("1 of 2 threads")
    # still busy: the pilot tries two threads now and then, and goes back to one
    counts = []
    for _ in range(PROBE_EVERY * 3 * WINDOW):
        counts.append(pilot.current)
        pilot.token(one_core_busy(pilot.current))
    assert 2 in counts and counts.count(2) <= 3 * WINDOW
    assert pilot.current == 1
    # the build ends: the next try of two threads is faster, so they stay
    run(pilot, quiet, PROBE_EVERY * WINDOW + WINDOW)
    assert pilot.current == 2
    assert pilot.describe() == "2 threads (one thread per core)"


def test_other_programs_busy_at_the_start_leave_them_a_core():
    pilot = ThreadPilot(4, base_why="one thread per core")
    assert pilot.before_reply(1.0) == 3
    assert "other programs keep about 1.0 cores busy" in pilot.describe()
    assert pilot.before_reply(0.1) == 4  # they stopped
    assert pilot.before_reply(None) == 4  # not known: the last choice stands


def test_a_fixed_count_never_changes():
    pilot = ThreadPilot(2, fixed=True, base_why="threads in config.toml")
    assert pilot.before_reply(1.5) == 2
    run(pilot, quiet, WINDOW * 4)
    assert all(pilot.token(one_core_busy(2)) is None for _ in range(WINDOW * 20))
    assert pilot.describe() == "2 threads (threads in config.toml)"
    single = ThreadPilot(1)
    assert single.before_reply(1.5) == 1 and run(single, one_core_busy, 100) > 0
    assert single.current == 1


def test_with_the_load_unknown_it_times_one_fewer_once():
    quiet_pilot = ThreadPilot(2)
    quiet_pilot.before_reply(None)
    run(quiet_pilot, quiet, WINDOW * 4)
    assert quiet_pilot.current == 2  # one window at one thread, then two again
    run(quiet_pilot, quiet, WINDOW * 40)
    assert quiet_pilot.current == 2  # and not again
    busy_pilot = ThreadPilot(2)
    busy_pilot.before_reply(None)
    run(busy_pilot, one_core_busy, WINDOW * 4)
    assert busy_pilot.current == 1  # busy from the start: one thread was faster


@pytest.mark.parametrize("load", [None, 1.0])
def test_with_one_core_busy_it_stays_within_ten_percent_of_the_best_fixed_count(load):
    """The issue's target, on the simulated machine: replies of 256 tokens with one core
    busy take at most 1.1x what the best fixed count (one thread here) takes, and on a
    quiet machine at most 1.01x what every core takes."""
    pilot = ThreadPilot(2)
    busy_total = 0.0
    for _ in range(10):
        pilot.before_reply(load)
        busy_total += run(pilot, one_core_busy, 256)
    best_fixed = min(one_core_busy(count) for count in (1, 2)) * 256 * 10
    assert busy_total <= 1.1 * best_fixed

    pilot = ThreadPilot(2)
    quiet_total = 0.0
    for _ in range(10):
        pilot.before_reply(0.0 if load else None)
        quiet_total += run(pilot, quiet, 256)
    assert quiet_total <= 1.01 * quiet(2) * 256 * 10


class Clock:
    def __init__(self) -> None:
        self.wall = 100.0
        self.own = 5.0


def fake_stat(path: Path, busy: int, idle: int) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice, in 1/100 s
    path.write_text(f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n")


def test_others_load_is_the_machines_busy_time_less_this_process(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr("r1chat.models.threads.time.monotonic", lambda: clock.wall)
    monkeypatch.setattr("r1chat.models.threads.time.process_time", lambda: clock.own)
    monkeypatch.setattr("r1chat.models.threads.os.sysconf", lambda name: 100)
    stat = tmp_path / "stat"
    fake_stat(stat, busy=1000, idle=5000)
    load = OthersLoad(stat)
    assert load.look() is None  # the first look starts the interval
    clock.wall += 2.0
    clock.own += 0.4  # this process used 0.4 s of CPU
    fake_stat(stat, busy=1000 + 240, idle=5000 + 160)  # the machine used 2.4 s
    assert load.look() == pytest.approx(1.0)  # 2.0 s by others over 2 s: one core
    clock.wall += 0.05
    fake_stat(stat, busy=1240 + 5, idle=5160 + 5)
    assert load.look() is None  # too short to say: the interval runs on
    clock.wall += 1.0
    fake_stat(stat, busy=1245 + 100, idle=5165 + 100)
    assert load.look() == pytest.approx(1.0)  # 1.05 s busy over the 1.05 s since
    clock.wall += 1.0
    assert load.look() == 0.0  # idle since
    stat.write_text("garbage\n")
    clock.wall += 1.0
    assert load.look() is None
    assert OthersLoad(tmp_path / "missing").look() is None


class Others:
    """What the engine hears about other programs' load, reply by reply."""

    def __init__(self, *loads: float | None) -> None:
        self.loads = list(loads)

    def now(self) -> float | None:
        return self.loads.pop(0) if self.loads else None

    def close(self) -> None: ...


def test_the_engine_runs_llama_cpp_with_the_pilots_count(smollm2_path, tmp_path, monkeypatch):
    from r1chat.engine.llama import LlamaEngine

    engine = LlamaEngine(smollm2_path, n_ctx=512, log_path=tmp_path / "llama.log")
    try:
        llama_cpp = engine._llama_cpp
        monkeypatch.setattr(engine, "pilot", ThreadPilot(2, base_why="one thread per core"))
        engine._busy.close()
        monkeypatch.setattr(engine, "_busy", Others(1.2, 0.0))  # one reading a reply
        request = ChatRequest(
            (ChatMessage("user", "Count from one to ten."),),
            GenerationParams(max_tokens=12, temperature=0.0, seed=1),
        )
        finished = [e for e in engine.stream(request) if isinstance(e, Finished)]
        assert finished[0].stats.threads == 1
        assert llama_cpp.llama_n_threads(engine._llm._ctx.ctx) == 1
        assert engine.info.threads.startswith("1 of 2 threads (other programs keep")

        finished = [e for e in engine.stream(request) if isinstance(e, Finished)]
        assert finished[0].stats.threads == 2
        assert llama_cpp.llama_n_threads(engine._llm._ctx.ctx) == 2
        assert llama_cpp.llama_n_threads_batch(engine._llm._ctx.ctx) == 2
        assert engine.info.threads == "2 threads (one thread per core)"
    finally:
        engine.close()


def test_threads_from_config_are_fixed_and_the_default_adapts(smollm2_path, tmp_path):
    from r1chat.engine.llama import LlamaEngine

    engine = LlamaEngine(smollm2_path, n_ctx=512, threads=1, log_path=tmp_path / "a.log")
    try:
        assert engine.pilot.fixed and engine.info.threads == "1 thread (threads in config.toml)"
    finally:
        engine.close()
    engine = LlamaEngine(smollm2_path, n_ctx=512, log_path=tmp_path / "b.log")
    try:
        assert not engine.pilot.fixed or engine.backend != "CPU"
        assert engine.pilot.most == engine.threads >= 1
    finally:
        engine.close()


def test_doctor_says_how_threads_adapt(cli_env, r1chat_command):
    import subprocess

    env = {**cli_env, "COLUMNS": "200"}
    out = subprocess.run(
        [*r1chat_command, "doctor"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "llama.cpp threads:" in out
    if default_threads().threads > 1:
        assert "adapts while replying" in out and "a reply would start with" in out


def test_a_core_is_left_for_each_one_other_programs_keep_busy():
    pilot = ThreadPilot(8)
    assert pilot.before_reply(2.7) == 5
    assert "3 left to them" in pilot.describe()
    assert pilot.before_reply(20.0) == 1
    assert pilot.before_reply(0.0) == 8


def test_tokens_slowing_as_the_chat_grows_are_not_a_stall():
    """A long chat's tokens take longer than a short one's at any thread count: each reply
    is measured against itself, so a quiet machine keeps every core."""
    pilot = ThreadPilot(2)
    pilot.before_reply(0.0)
    run(pilot, quiet, 64)
    for scale in (3, 4, 5):  # the context grows: every token slower, both counts alike
        pilot.before_reply(0.0)
        slower: Machine = partial(scaled, scale)
        run(pilot, slower, 64)
        assert pilot.current == 2, scale


def test_with_the_load_unknown_it_explores_now_and_then_not_every_reply():
    pilot = ThreadPilot(2)
    counts = []
    for _ in range(16):
        pilot.before_reply(None)
        for _ in range(1 + WINDOW * 3):
            counts.append(pilot.current)
            pilot.token(quiet(pilot.current))
    assert counts.count(1) == 2 * WINDOW  # replies 1 and 9: one window each


class Readings:
    """An `OthersLoad` that reads out what it is given, one value a look."""

    def __init__(self, *values: float | None) -> None:
        self.values = list(values)
        self.looks = 0

    def look(self) -> float | None:
        self.looks += 1
        return self.values.pop(0) if self.values else 0.0


def test_the_watch_keeps_the_latest_reading_and_stops():
    import time

    from r1chat.models.threads import LoadWatch

    readings = Readings(None, None, 1.3)
    watch = LoadWatch(readings, every=0.01)  # type: ignore[arg-type]
    assert watch.now() is None  # nothing read yet
    watch.begin().start()
    deadline = time.monotonic() + 5
    while watch.now() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert watch.now() in (1.3, 0.0)  # the second look (the first starts the interval)
    watch.close()
    time.sleep(0.05)
    looks = readings.looks
    time.sleep(0.05)
    assert readings.looks == looks  # stopped
    assert watch.now() is None  # and what it read goes stale
