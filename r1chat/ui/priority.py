"""Provides `ModelFirst`: while a local CPU model generates, the UI thread gives way to it.

llama.cpp's CPU threads meet at a barrier for every token, so whenever the UI thread
takes a core one of them waits, and all of them with it: on a 2-core machine a
fifth of a core of drawing cost two fifths of generation speed. For the length of a
local reply on the CPU, the UI thread (only it: on Linux a thread has a priority of
its own) runs at a lower scheduling priority, so it mostly draws in the gaps
llama.cpp leaves. (The engine also shortens Python's thread switch interval while
a reply streams; see `r1chat.engine.base`.)

The priority is put back when the reply ends. Linux lets an ordinary user lower a thread's
priority but not raise it again (unless `RLIMIT_NICE` or `CAP_SYS_NICE` allows), so
before lowering anything a throwaway thread tries the round trip; where it fails the
priority is left alone for good, rather than leaving the UI slow after the reply.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from functools import cache

NICE_STEP = 10
"""How far the UI thread's nice value goes up while a reply streams (19 at most)."""
WAKE_HOLD = 0.5
"""Seconds the UI thread keeps its own priority after a key press or mouse event."""


def _native_priorities() -> bool:
    """Whether a thread's priority can be set apart from its process's (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "setpriority")


@cache
def can_restore(current: int, lowered: int) -> bool:
    """Whether a thread at nice `current` may go to `lowered` and come back.

    Tried on a thread of its own, whose priority nobody else uses.
    """
    if not _native_priorities():
        return False
    result: list[bool] = []

    def probe() -> None:
        tid = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, tid, lowered)
            os.setpriority(os.PRIO_PROCESS, tid, current)
            result.append(os.getpriority(os.PRIO_PROCESS, tid) == current)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="r1chat-priority-probe")
    thread.start()
    thread.join()
    return bool(result and result[0])


class ModelFirst:
    """Lowers the UI thread's scheduling priority until `restore`, where that is undoable.

    Input puts the priority back at once (`wake`, from the thread that reads the
    terminal) so a key is handled as fast as when nothing streams; `settle`, called
    with each frame, lowers it again once input has been quiet for `WAKE_HOLD`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: tuple[int, int, int] | None = None
        """(native thread id, nice value to put back, lowered value) while in use."""
        self._lowered = False
        self._woken_at = 0.0

    @property
    def active(self) -> bool:
        """Whether the UI thread is in the model's favour now (until `restore`)."""
        return self._thread is not None

    @property
    def lowered(self) -> bool:
        """Whether the priority is lowered at this moment (not while input is handled)."""
        return self._lowered

    def lower(self) -> None:
        """Give way to the model; call from the UI thread, and `restore` when the reply ends."""
        if self.active or not _native_priorities():
            return
        tid = threading.get_native_id()
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
        except OSError:
            return
        lowered = min(19, current + NICE_STEP)
        if lowered > current and can_restore(current, lowered):
            with self._lock:
                self._thread = (tid, current, lowered)
                self._set(lowered)

    def wake(self) -> None:
        """Input arrived: the UI thread gets its own priority back now (any thread may call)."""
        if not self._lowered:
            return
        with self._lock:
            if self._thread is not None and self._lowered:
                self._set(self._thread[1])
            self._woken_at = time.monotonic()

    def settle(self) -> None:
        """Lower the priority again once input has been quiet for a while."""
        if self._thread is None or self._lowered:
            return
        with self._lock:
            if self._thread is not None and time.monotonic() - self._woken_at >= WAKE_HOLD:
                self._set(self._thread[2])

    def restore(self) -> None:
        """Put back what `lower` changed."""
        with self._lock:
            if self._thread is not None:
                self._set(self._thread[1])
                self._thread = None

    def _set(self, nice: int) -> None:
        assert self._thread is not None
        tid, original, _ = self._thread
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:  # checked before lowering; should it fail, leave things as they are
            return
        self._lowered = nice != original
