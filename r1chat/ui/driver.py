"""Provides `driver_class`: the terminal driver the app runs on, tuned for a prompt Esc.

Two changes to the platform's driver, both on the thread that reads the terminal:

- input first: a key or mouse event gives the UI thread its scheduling priority back
  before it is handed over (see `r1chat.ui.priority`), so it is handled as fast as when
  nothing streams;
- a prompt Esc, on Linux and macOS. A terminal sends the Esc key as a lone ESC byte, the
  same byte that starts the escape sequence of an arrow or a function key, so a lone ESC
  is only known to be the key once a short wait has passed without more input. Textual
  waits `ESCDELAY` milliseconds (100 unless set), but its input thread looks at the
  clock only when its 0.1 s poll of the terminal ends: an Esc took 100 to 200 ms to
  arrive, the better part of Esc → stopped. Here the reading loop wakes when the wait
  is over, and the wait is 50 ms (neovim's `ttimeoutlen`) unless `ESCDELAY` is set.
  Terminals that speak the kitty keyboard protocol send the Esc key unambiguously and
  never wait.
"""

from __future__ import annotations

import os
import selectors
import time
from codecs import getincrementaldecoder
from collections.abc import Callable, Iterable

from textual import constants, events
from textual.driver import Driver
from textual.message import Message

try:  # Textual's own parser (private): without it, the platform's reading loop is kept
    from textual._parser import ParseError
    from textual._xterm_parser import XTermParser
    from textual.drivers.linux_driver import LinuxDriver
except ImportError:  # pragma: no cover - another Textual, or Windows
    LinuxDriver = None  # type: ignore[assignment, misc]

ESCAPE_WAIT = 0.05
"""Seconds a lone ESC byte waits for the rest of an escape sequence, unless `ESCDELAY`
(milliseconds, as for curses programs) is set."""
POLL = 0.1
"""Seconds between looks at whether the driver is stopping, while no input comes."""
SLACK = 0.002
"""Seconds past an escape wait before the parser is asked for what timed out."""
READ_SIZE = 4096


def escape_wait() -> float:
    """Seconds to wait after a lone ESC byte: `ESCDELAY` where set, else `ESCAPE_WAIT`."""
    if "ESCDELAY" in os.environ:
        return constants.ESCAPE_DELAY
    return ESCAPE_WAIT


def driver_class(base: type[Driver], on_input: Callable[[], None]) -> type[Driver]:
    """`base` (the platform's driver), calling `on_input` first for each input event and,
    where `base` is Textual's Linux driver (Linux and macOS), reading the terminal with
    `read_terminal`."""

    class InputFirst(base):  # type: ignore[misc, valid-type]
        def send_message(self, message: Message) -> None:
            if isinstance(message, events.InputEvent | events.Paste):
                on_input()
            super().send_message(message)

    if LinuxDriver is None or not issubclass(base, LinuxDriver):
        return InputFirst

    class PromptEscape(InputFirst):
        def run_input_thread(self) -> None:
            read_terminal(self)

    return PromptEscape


def read_terminal(driver: LinuxDriver) -> None:
    """Read and parse the terminal's input until the driver's `exit_event` is set.

    The loop sleeps until input comes, `POLL` passes, or (while an ESC byte may still be
    the start of a sequence) the escape wait is over: then the parser's `tick` hands
    over the lone Esc key.
    """
    constants.ESCAPE_DELAY = escape_wait()  # type: ignore[misc]
    parser = XTermParser(debug=False)
    decode = getincrementaldecoder("utf-8")(errors="replace").decode
    fileno = driver.fileno
    pending_until: float | None = None
    """While the parser may hold part of an escape sequence: when its wait ends."""
    at_end = False

    def hand_over(messages: Iterable[Message]) -> None:
        for message in messages:
            driver.process_message(message)

    with selectors.SelectSelector() as selector:
        selector.register(fileno, selectors.EVENT_READ)
        try:
            while not driver.exit_event.is_set():
                wait = POLL
                if pending_until is not None:
                    wait = min(POLL, max(0.0, pending_until - time.monotonic()))
                if at_end:
                    driver.exit_event.wait(wait)
                    ready = False
                else:
                    ready = bool(selector.select(wait))
                if ready:
                    data = os.read(fileno, READ_SIZE)
                    if not data:  # stdin at its end (a pipe): stop reading, keep ticking
                        selector.unregister(fileno)
                        at_end = True
                    text = decode(data, final=not data)
                    if text:
                        hand_over(parser.feed(text))
                        if "\x1b" in text or pending_until is not None:
                            pending_until = time.monotonic() + constants.ESCAPE_DELAY + SLACK
                hand_over(parser.tick())
                if pending_until is not None and time.monotonic() >= pending_until:
                    pending_until = None
        finally:
            try:
                for _event in parser.feed(""):
                    pass
            except ParseError:
                pass
