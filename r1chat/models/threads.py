"""Provides `ThreadPilot`: how many threads llama.cpp runs with, chosen from what the
machine gives now, and `OthersLoad`: how busy other programs keep the CPUs.

llama.cpp's workers wait for each other at every step, so one core busy with something
else (a browser, a build) stalls them all: on two cores, two threads then run many times
slower than one. The pilot starts a reply with a core left free when other programs keep
one busy, watches the time of each token, steps down when the workers stall, and tries
the full count again now and then, so a quiet machine gets all of it back.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

WINDOW = 8
"""Tokens timed together: one window's median is one measurement."""
STALL = 2.0
"""A window this many times slower than the best seen in the reply at the same count is
a stall (a busy core makes it 5 to 20 times; the app's own frames only a little)."""
PROBE_EVERY = 8
"""Windows at a lower count before the first try of the full count; each failed try
doubles the wait, up to `MAX_PROBE_EVERY`."""
MAX_PROBE_EVERY = 32
EXPLORE_EVERY = 8
"""Replies between timings of one thread fewer when the machine's load cannot be read."""
MIN_INTERVAL = 0.1
"""Seconds under which a look says nothing (the kernel counts in hundredths)."""
WATCH_EVERY = 0.5
"""Seconds between readings of the machine's load (a reading costs microseconds)."""
BUSY_CORE = 0.6
"""Other programs' CPU use, in cores, from which a core is left to them."""


@dataclass
class ThreadPilot:
    """Chooses llama.cpp's thread count, reply by reply and while a reply runs."""

    most: int
    """The most threads: one per core this process may use (or what config says)."""
    fixed: bool = False
    """`threads` is set in config: the count never changes."""
    base_why: str = ""
    """Why `most` (for `doctor` and the status bar)."""
    current: int = field(init=False)
    why: str = field(init=False)
    _best: dict[int, float] = field(default_factory=dict, init=False)
    """The fastest window seen at each count (seconds a token)."""
    _recent: dict[int, float] = field(default_factory=dict, init=False)
    _window: list[float] = field(default_factory=list, init=False)
    _lowered_for: int = field(default=0, init=False)
    """Windows run below `most` since the last try of the full count."""
    _probing: bool = field(default=False, init=False)
    _probe_every: int = field(default=PROBE_EVERY, init=False)
    _warming: bool = field(default=False, init=False)
    _load_known: bool = field(default=False, init=False)
    """How busy the machine is has been heard at least once (until then: explore)."""
    _replies: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.most = max(1, self.most)
        self.current = self.most
        self.why = self.base_why

    def describe(self) -> str:
        """`2 threads (why)`, or `1 of 2 threads (why)` while stepped down."""
        count = f"{self.current} of {self.most}" if self.current < self.most else str(self.most)
        return f"{count} thread{'s' if self.most != 1 else ''} ({self.why})"

    def before_reply(self, others: float | None) -> int:
        """The count to start a reply with, given how many cores other programs kept busy
        lately (`None`: not known; the last choice stands)."""
        self._window.clear()
        self._probing = False
        self._warming = True
        self._load_known = self._load_known or others is not None
        self._replies += 1
        if self.fixed or self.most == 1:
            return self.current
        if others is not None and others >= BUSY_CORE:
            left = max(1, round(others))
            self._lower(
                f"other programs keep about {others:.1f} cores busy: "
                f"{'one' if left == 1 else left} left to them",
                by=left,
            )
        elif others is not None and self.current < self.most and not self._stalled_lately():
            self._set(self.most, self.base_why)  # they stopped
            self._probe_every = PROBE_EVERY
        # Token times grow with the context, so each reply is measured against itself.
        self._best.clear()
        self._recent.clear()
        return self.current

    def token(self, seconds: float) -> int | None:
        """One generated token took `seconds`; a new count if it should change now."""
        if self.fixed or self.most == 1:
            return None
        if self._warming:  # a reply's first token carries its set-up: not a measure
            self._warming = False
            return None
        before = self.current
        self._window.append(seconds)
        lower = self._recent.get(self.current - 1)
        if self._probing and lower is not None and seconds > 2 * lower:
            self._probe_failed(seconds, lower)  # clearly slower: one token is enough
            return self.current
        if len(self._window) < WINDOW:
            return None
        median = statistics.median(self._window)
        self._window.clear()
        count = self.current
        best = self._best.get(count)
        self._best[count] = median if best is None else min(best, median)
        self._recent[count] = median
        if self._probing:  # the full count again: keep it if it beats the lower one
            self._probing = False
            if lower is not None and median > lower * 0.95:
                self._probe_failed(median, lower)
            else:
                self._set(count, self.base_why)
                self._probe_every = PROBE_EVERY
        elif count == self.most:
            if best is not None and median > STALL * best:
                self._lower(self._stall_why(count, median, lower))
            elif best is None and lower is None and self._explore_now():
                # the machine's load is not known: time one fewer once, then compare
                self._set(count - 1, self.why)
                self._lowered_for = self._probe_every - 1  # and come back at once
        else:
            self._lowered_for += 1
            if self._lowered_for >= self._probe_every:
                self._lowered_for = 0
                self._probing = True
                self.current = count + 1
        return self.current if self.current != before else None

    def _probe_failed(self, seconds: float, lower: float) -> None:
        """The full count was slower again: back down, and try it less often (a try
        costs tokens at the stalled speed)."""
        self._probing = False
        self._window.clear()
        self._lower(self._stall_why(self.current, seconds, lower))
        self._probe_every = min(2 * self._probe_every, MAX_PROBE_EVERY)

    def _explore_now(self) -> bool:
        """Time one fewer thread for a window: only while the machine's load is not known
        (no /proc/stat), on the first reply and every `EXPLORE_EVERY`th after."""
        return not self._load_known and self._replies % EXPLORE_EVERY == 1

    def _stalled_lately(self) -> bool:
        full, lower = self._recent.get(self.most), self._recent.get(self.most - 1)
        return full is not None and lower is not None and full > lower * 0.95

    def _stall_why(self, count: int, median: float, lower: float | None) -> str:
        speed = f"{1 / median:.0f} tok/s at {count} threads" if median > 0 else "stalled"
        if lower:
            speed += f", {1 / lower:.0f} at {count - 1}"
        return f"the workers stalled ({speed}): a busy core slows them all"

    def _lower(self, why: str, by: int = 1) -> None:
        self._set(max(1, self.most - by), why)
        self._lowered_for = 0

    def _set(self, count: int, why: str) -> None:
        self.current, self.why = count, why


@dataclass
class OthersLoad:
    """How many cores other programs kept busy between two looks (Linux `/proc/stat`
    minus this process's own CPU time); `None` elsewhere or over too short a time."""

    stat: Path = Path("/proc/stat")
    _last: tuple[float, float, float] | None = field(default=None, init=False)

    def look(self) -> float | None:
        """Other programs' cores since the last look that said something (a look too soon
        after it says nothing and lets the interval run on, so short replies in a row
        still hear how busy the machine is)."""
        now = self._sample()
        if now is None:
            return None
        last = self._last
        if last is None:
            self._last = now
            return None
        wall, busy, own = (a - b for a, b in zip(now, last, strict=True))
        if wall < MIN_INTERVAL:
            return None
        self._last = now
        return max(0.0, (busy - own) / wall)

    def _sample(self) -> tuple[float, float, float] | None:
        try:
            fields_ = self.stat.read_text().split("\n", 1)[0].split()
            ticks = [int(value) for value in fields_[1:]]
        except (OSError, ValueError, IndexError):
            return None
        if len(ticks) < 4:
            return None
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
        hertz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy = (sum(ticks[:8]) - idle) / hertz  # user … steal; guest is counted in user
        return time.monotonic(), busy, time.process_time()


class LoadWatch:
    """Reads `OthersLoad` every `every` seconds on a daemon thread, so a reply starts
    knowing how busy the machine was just before it (not averaged over the minutes since
    the last reply, when another program may have come and gone)."""

    def __init__(self, load: OthersLoad, every: float = WATCH_EVERY) -> None:
        self.load = load
        self.every = every
        self._latest: tuple[float, float | None] | None = None
        self._stop = threading.Event()
        self._reading = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="r1chat-load", daemon=True)

    def begin(self) -> LoadWatch:
        """Start the first interval (before loading a model: its own CPU is left out)."""
        with self._reading:
            self.load.look()
        return self

    def start(self) -> LoadWatch:
        """Read now, then twice a second on the daemon thread."""
        self.read_now()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.read_now()

    def read_now(self) -> None:
        """Read the load at once (after loading a model: the first reply knows it)."""
        with self._reading:
            value = self.load.look()
        if value is not None:
            self._latest = (time.monotonic(), value)

    def now(self) -> float | None:
        """Other programs' cores over the last reading, if it is fresh (`None` before the
        first one, or where the load cannot be read)."""
        latest = self._latest
        if latest is None or time.monotonic() - latest[0] > 3 * self.every:
            return None
        return latest[1]

    def close(self) -> None:
        self._stop.set()
