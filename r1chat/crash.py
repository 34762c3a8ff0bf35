"""Provides the app's guard against native crashes: a small parent that outlives them.

A crash inside llama.cpp (SIGILL from a build the CPU cannot run, SIGSEGV) ends the
process at once: no Python code runs, and a full-screen app leaves the terminal in the
alternate screen with mouse reporting on and no word of what happened. So the app runs
in a forked child while the parent, which holds no model and no threads, waits. When the
child dies of a signal, the parent puts the terminal back, says in one sentence what
happened, lets the caller mark the cut reply as interrupted, and leaves a note that the
next start shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from r1chat.files import write_private

NATIVE_SIGNALS = {
    signal.SIGILL: "an illegal instruction (SIGILL)",
    signal.SIGSEGV: "a segmentation fault (SIGSEGV)",
    signal.SIGBUS: "a bus error (SIGBUS)",
    signal.SIGFPE: "an arithmetic fault (SIGFPE)",
    signal.SIGABRT: "an abort (SIGABRT)",
}
"""Signals a native library dies of, in words."""

TERMINAL_RESET = (
    "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l"  # mouse reporting off
    "\x1b[?2004l"  # bracketed paste off
    "\x1b[?1004l"  # focus events off
    "\x1b[?25h"  # cursor shown
    "\x1b[?7h"  # lines wrap again
    "\x1b[?1049l"  # back from the alternate screen
)
"""What a full-screen app turns on, turned off again."""

_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def guard_wanted(environ: dict[str, str] | None = None) -> bool:
    """Whether to run the app under the guard: a POSIX terminal on both ends, and not
    turned off with `R1CHAT_NO_GUARD=1`."""
    env = os.environ if environ is None else environ
    if env.get("R1CHAT_NO_GUARD") or not hasattr(os, "fork"):
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def run_guarded(crash_file: Path, on_crash: Callable[[], None]) -> None:
    """Fork: return in the child (which runs the app); in the parent, wait for it and exit
    with its status. Call before any thread is started or any file is opened for writing.

    The parent learns from the exit status which signal ended the child, so the child
    needs no fault handler of its own.
    """
    saved = _terminal_state()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        return
    status = _wait(child)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        _restore_terminal(saved)
        what = describe_signal(number)
        if number in NATIVE_SIGNALS:
            record_crash(crash_file, number)
            with contextlib.suppress(Exception):
                on_crash()
            sys.stderr.write(
                f"r1chat: the app stopped on {what} inside llama.cpp; the reply so far is saved "
                "as interrupted. Run `r1chat doctor --check-build` to see whether this build "
                "runs on this CPU.\n"
            )
        elif number not in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL):
            sys.stderr.write(f"r1chat: the app stopped on {what}.\n")
        sys.stderr.flush()
        os._exit(128 + number)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def describe_signal(number: int) -> str:
    """A signal in words (`an illegal instruction (SIGILL)`)."""
    try:
        known = signal.Signals(number)
    except ValueError:
        return f"signal {number}"
    return NATIVE_SIGNALS.get(known, f"signal {known.name}")


def _wait(child: int) -> int:
    """Wait for the child, passing on the signals meant for r1chat as a whole."""

    def forward(number: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, number)

    for number in _FORWARDED:
        signal.signal(number, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal sends Ctrl+C to the child too
    while True:
        try:
            _, status = os.waitpid(child, 0)
            return status
        except ChildProcessError:
            return 0
        except InterruptedError:  # pragma: no cover - PEP 475 retries this
            continue


def _terminal_state() -> Any:
    import termios  # POSIX only, as is the guard

    try:
        return termios.tcgetattr(sys.stdin.fileno())
    except (OSError, ValueError, termios.error):
        return None


def _restore_terminal(saved: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.write(sys.stdout.fileno(), TERMINAL_RESET.encode())
    if saved is not None:
        import termios

        with contextlib.suppress(OSError, ValueError, termios.error):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, saved)


def record_crash(crash_file: Path, number: int) -> None:
    """Leave a note for the next start: which signal, and when."""
    with contextlib.suppress(OSError):
        write_private(
            crash_file, json.dumps({"signal": number, "at": time.time(), "what": "the app"})
        )


def last_crash(crash_file: Path) -> str | None:
    """The sentence about the last run's native crash, once (the note is removed)."""
    try:
        data = json.loads(crash_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    with contextlib.suppress(OSError):
        crash_file.unlink()
    if not isinstance(data, dict) or not isinstance(data.get("signal"), int):
        return None
    when = data.get("at")
    at = (
        time.strftime(" at %H:%M on %d %b", time.localtime(when))
        if isinstance(when, int | float)
        else ""
    )
    return (
        f"The last session{at} stopped on {describe_signal(data['signal'])} inside llama.cpp; "
        "its cut reply is marked interrupted. `r1chat doctor --check-build` tells whether "
        "this build runs on this CPU."
    )
