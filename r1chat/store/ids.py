"""Provides sortable ids: 26 characters, time first, so newer ids sort after older ones."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
_RANDOM_BITS = 80


class IdFactory:
    """Makes ULID-shaped ids: 48 bits of milliseconds, then 80 bits that are random.

    Within one millisecond the random part counts up, so ids from one process are
    strictly increasing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def new(self, now: float | None = None) -> str:
        """A new id for the time `now` (seconds; default: the clock)."""
        ms = int((time.time() if now is None else now) * 1000)
        with self._lock:
            if ms <= self._last_ms:
                ms = self._last_ms
                self._last_random += 1
                if self._last_random >> _RANDOM_BITS:  # 2**80 ids in one ms: borrow the next
                    ms, self._last_random = ms + 1, 0
            else:
                self._last_random = int.from_bytes(os.urandom(10), "big") >> 1
            self._last_ms = ms
            value = (ms << _RANDOM_BITS) | self._last_random
        return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


_factory = IdFactory()


def new_id(now: float | None = None) -> str:
    """A new sortable id."""
    return _factory.new(now)


def looks_like_id_prefix(text: str) -> bool:
    """Whether `text` could be (the start of) an id."""
    return 0 < len(text) <= 26 and all(c in _ALPHABET for c in text.upper())
