"""Provides `LlamaLog`: llama.cpp's own log goes to a file, its last lines are kept for errors."""

from __future__ import annotations

import collections
import ctypes
import threading
from pathlib import Path
from typing import Any, ClassVar

from r1chat.files import open_private_append, private_dir

# ggml's levels: 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 continue the previous line.
WARN, ERROR, CONT = 3, 4, 5
ROTATE_BYTES = 2_000_000
"""A log past this size is moved to `<name>.1` (the one before that is dropped) when opened:
each model load writes about 200 KB, so a few loads are kept and the folder never grows."""


def rotate(path: Path, limit: int = ROTATE_BYTES) -> None:
    """Move `path` to `path.1` if it has grown past `limit` bytes."""
    try:
        if path.stat().st_size > limit:
            path.replace(path.with_name(path.name + ".1"))
    except OSError:  # missing, or not ours to move: keep appending
        pass


class LlamaLog:
    """Receives llama.cpp's log (a process-wide callback) instead of the user's terminal.

    Lines are appended to `path` and the last ones are kept in memory so that a
    failed load can say why in one sentence.
    """

    _installed: ClassVar[LlamaLog | None] = None
    _callback: ClassVar[Any] = None  # keeps the ctypes callback alive

    def __init__(self, path: Path | None, keep: int = 60) -> None:
        self.path = path
        self.lines: collections.deque[tuple[int, int, str]] = collections.deque(maxlen=keep)
        """The last lines as (sequence number, level, text)."""
        self._count = 0
        self._partial = ""
        self._level = 2
        self._lock = threading.Lock()
        self._file: Any = None

    @classmethod
    def install(cls, path: Path | None) -> LlamaLog:
        """Route llama.cpp's log through a `LlamaLog` writing to `path` (once per process)."""
        import llama_cpp

        if cls._installed is not None and cls._installed.path == path:
            return cls._installed
        log = cls(path)

        def receive(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
            log.write(level, text)

        callback = llama_cpp.llama_log_callback(receive)

        previous = cls._installed
        cls._installed, cls._callback = log, callback
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
        if previous is not None:
            previous.close()
        return log

    def write(self, level: int, text: bytes) -> None:
        """Take one fragment of llama.cpp's log (fragments end lines with a newline)."""
        decoded = text.decode("utf-8", errors="replace")
        with self._lock:
            self._write_file(decoded)
            for piece in decoded.splitlines(keepends=True):
                if not self._partial.strip() and level != CONT:
                    # A line takes the level of the fragment that starts it.
                    self._level = level
                self._partial += piece
                if self._partial.endswith("\n"):
                    line, self._partial = self._partial.strip(), ""
                    if line:
                        self._count += 1
                        self.lines.append((self._count, self._level, line))

    def _write_file(self, text: str) -> None:
        if self.path is None:
            return
        try:
            if self._file is None:
                private_dir(self.path.parent)
                rotate(self.path)
                self._file = open_private_append(self.path)
            self._file.write(text)
            if text.endswith("\n"):
                self._file.flush()
        except (OSError, ValueError):  # ValueError: file already closed at interpreter exit
            self.path = None  # a log we cannot write must not break generation

    def mark(self) -> int:
        """A position in the log, to look only at what comes after it."""
        with self._lock:
            return self._count

    def reason(self, since: int = 0) -> str | None:
        """The most telling error (or else warning) line logged after `since`, if any."""
        with self._lock:
            lines = [(level, text) for count, level, text in self.lines if count > since]
        for wanted in (ERROR, WARN):
            for level, text in reversed(lines):
                if level == wanted and "failed to load model" not in text:
                    return text.split("error loading model: ", 1)[-1]
        return None

    def close(self) -> None:
        """Close the log file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
