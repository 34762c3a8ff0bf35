"""Provides sortable ids: 26 characters, time first, so newer ids sort after older ones."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U


def new_id(now: float | None = None) -> str:
    """A ULID-shaped id: 48 bits of milliseconds, then 80 random bits.

    The random part is fresh every time (not counted up within a millisecond), so
    ids made together still differ early enough for short prefixes to be useful.
    """
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def looks_like_id_prefix(text: str) -> bool:
    """Whether `text` could be (the start of) an id."""
    return 0 < len(text) <= 26 and all(c in _ALPHABET for c in text.upper())


def is_id(text: object) -> bool:
    """Whether `text` is a whole id as r1chat writes them."""
    return isinstance(text, str) and len(text) == 26 and all(c in _ALPHABET for c in text)
