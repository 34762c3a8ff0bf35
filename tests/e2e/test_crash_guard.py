"""The app's guard: a native crash puts the terminal back, says why, and the next start says it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from r1chat.crash import TERMINAL_RESET, describe_signal, guard_wanted, last_crash, record_crash

GUARDED = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from r1chat.crash import run_guarded

    crash, marker = Path(sys.argv[1]), Path(sys.argv[2])
    action = sys.argv[3]
    run_guarded(crash, lambda: marker.write_text("marked by the parent"))
    print("child", os.getpid(), flush=True)
    if action == "sigill":
        os.kill(os.getpid(), signal.SIGILL)
    elif action == "exit3":
        sys.exit(3)
    else:
        time.sleep(30)
    """
)


def guarded(tmp_path: Path, action: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", GUARDED, *guard_files(tmp_path), action],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def guard_files(tmp_path: Path) -> list[str]:
    return [str(tmp_path / "crash.json"), str(tmp_path / "marker")]


def test_a_native_crash_in_the_child_is_reported_by_the_parent(tmp_path):
    process = guarded(tmp_path, "sigill")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGILL
    assert out.startswith("child ") and TERMINAL_RESET in out  # the terminal put back
    assert err.count("\n") == 1 and err.startswith("r1chat: the app stopped on an illegal")
    assert "saved as interrupted" in err and "r1chat doctor --check-build" in err
    assert (tmp_path / "marker").read_text() == "marked by the parent"
    note = last_crash(tmp_path / "crash.json")
    assert note is not None and "stopped on an illegal instruction (SIGILL)" in note
    assert last_crash(tmp_path / "crash.json") is None  # said once


def test_an_ordinary_exit_passes_through_untouched(tmp_path):
    process = guarded(tmp_path, "exit3")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3 and err == "" and TERMINAL_RESET not in out
    assert not (tmp_path / "crash.json").exists() and not (tmp_path / "marker").exists()


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_to_the_parent_reaches_the_app(tmp_path, number):
    """Closing the terminal or `kill` mid-reply: the app goes, and the terminal is put back
    (main screen, cursor shown, mouse reporting off)."""
    process = guarded(tmp_path, "sleep")
    assert process.stdout is not None
    child = int(process.stdout.readline().split()[1])
    assert child != process.pid
    process.send_signal(number)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 128 + number
    assert TERMINAL_RESET in out and err == ""  # put back, and nothing to explain
    assert not (tmp_path / "crash.json").exists()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the app's process outlived SIGTERM")


def test_notes_and_words(tmp_path):
    record_crash(tmp_path / "c.json", int(signal.SIGSEGV))
    assert (tmp_path / "c.json").stat().st_mode & 0o777 == 0o600
    note = last_crash(tmp_path / "c.json")
    assert note is not None and "segmentation fault (SIGSEGV)" in note
    (tmp_path / "bad.json").write_text("{not json")
    assert last_crash(tmp_path / "bad.json") is None
    assert describe_signal(9) == "signal SIGKILL" and describe_signal(999) == "signal 999"
    assert not guard_wanted({"R1CHAT_NO_GUARD": "1"})
