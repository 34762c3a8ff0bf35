"""The terminal driver's reading loop (`r1chat.ui.driver.read_terminal`) on a real pty.

A lone Esc byte is handed over as the Esc key once the escape wait is over (the loop
sleeps exactly that long), not at the next 0.1 s poll; escape sequences, split or whole,
still make their keys; bad bytes and a closed input do not end or spin the loop.
"""

from __future__ import annotations

import os
import pty
import selectors
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from textual import constants, events

from r1chat.ui.driver import ESCAPE_WAIT, POLL, SLACK, escape_wait, read_terminal
from tests.tui_helpers import make_app

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux pty")


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the reading loop"
        time.sleep(0.005)


class Reader:
    """`read_terminal` on its own thread, reading `fileno`; what it did, in order."""

    def __init__(self, fileno: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log: list[tuple[str, Any]] = []
        self.exit_event = threading.Event()
        log = self.log

        class Recording(selectors.SelectSelector):
            def select(self, timeout: float | None = None) -> Any:
                ready = super().select(timeout)
                log.append(("select", (timeout, bool(ready))))
                return ready

        monkeypatch.setattr(selectors, "SelectSelector", Recording)
        fake = SimpleNamespace(
            fileno=fileno,
            exit_event=self.exit_event,
            process_message=lambda message: log.append(("message", message)),
        )
        self.thread = threading.Thread(target=read_terminal, args=(fake,), daemon=True)
        self.thread.start()
        wait_until(lambda: self.selects(), timeout=5)

    def selects(self) -> list[tuple[float, bool]]:
        return [value for kind, value in list(self.log) if kind == "select"]

    def pressed(self) -> list[str]:
        return [
            value.key
            for kind, value in list(self.log)
            if kind == "message" and isinstance(value, events.Key)
        ]

    def stop(self) -> None:
        self.exit_event.set()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, int]]:
    monkeypatch.delenv("ESCDELAY", raising=False)
    # read_terminal sets Textual's escape wait for the process: put it back afterwards.
    monkeypatch.setattr(constants, "ESCAPE_DELAY", constants.ESCAPE_DELAY)
    master, slave = pty.openpty()
    tty.setraw(slave)  # as the app's driver sets its terminal: bytes as they come
    yield master, slave
    os.close(master)
    os.close(slave)


def test_a_lone_esc_is_handed_over_when_the_escape_wait_ends(terminal, monkeypatch):
    master, slave = terminal
    reader = Reader(slave, monkeypatch)
    before = len(reader.log)
    os.write(master, b"\x1b")
    wait_until(lambda: "escape" in reader.pressed(), timeout=5)
    reader.stop()
    after = reader.log[before:]
    read_at = next(i for i, (kind, value) in enumerate(after) if kind == "select" and value[1])
    waits = after[read_at + 1 :]
    # Read the byte, then one sleep of the escape wait (not the 0.1 s poll), then the key.
    assert waits[0][0] == "select"
    timeout, ready = waits[0][1]
    assert not ready and 0 < timeout <= ESCAPE_WAIT + SLACK < POLL
    assert waits[1][0] == "message" and waits[1][1].key == "escape"
    assert constants.ESCAPE_DELAY == ESCAPE_WAIT


def test_alt_and_a_key_is_not_esc(terminal, monkeypatch):
    master, slave = terminal
    reader = Reader(slave, monkeypatch)
    os.write(master, b"\x1bx")
    wait_until(lambda: reader.pressed(), timeout=5)
    time.sleep(ESCAPE_WAIT * 2)
    reader.stop()
    assert reader.pressed() == ["alt+x"]


def test_escape_sequences_still_make_their_keys(terminal, monkeypatch):
    master, slave = terminal
    # A long escape wait: the split sequence below is whole however slow this machine is.
    monkeypatch.setenv("ESCDELAY", "3000")
    monkeypatch.setattr(constants, "ESCAPE_DELAY", 3.0)
    assert escape_wait() == 3.0
    reader = Reader(slave, monkeypatch)
    os.write(master, b"\x1b[A")  # Up, whole
    wait_until(lambda: reader.pressed() == ["up"], timeout=5)
    os.write(master, b"\x1b[")  # Down, in two reads
    wait_until(lambda: sum(ready for _, ready in reader.selects()) == 2, timeout=5)
    os.write(master, b"B")
    wait_until(lambda: reader.pressed() == ["up", "down"], timeout=5)
    reader.stop()
    assert reader.pressed() == ["up", "down"]


def test_bad_bytes_do_not_end_the_loop(terminal, monkeypatch):
    master, slave = terminal
    reader = Reader(slave, monkeypatch)
    os.write(master, b"\xff\xfea")
    wait_until(lambda: "a" in reader.pressed(), timeout=5)
    assert reader.thread.is_alive()
    reader.stop()


def test_input_at_its_end_is_not_read_again_and_again(monkeypatch):
    read_end, write_end = os.pipe()
    try:
        reader = Reader(read_end, monkeypatch)
        os.write(write_end, b"q")
        os.close(write_end)
        wait_until(lambda: "q" in reader.pressed(), timeout=5)
        selects = len(reader.selects())
        time.sleep(0.5)
        assert len(reader.selects()) == selects  # no select on a pipe at its end
        assert reader.thread.is_alive()
        reader.stop()
    finally:
        os.close(read_end)


def test_the_app_reads_the_terminal_this_way(tmp_path):
    from textual.drivers.linux_driver import LinuxDriver

    app, _, store = make_app(tmp_path)
    driver_class = app.get_driver_class()
    assert issubclass(driver_class, LinuxDriver)
    assert driver_class.run_input_thread.__module__ == "r1chat.ui.driver"
    store.close()
