"""Provides `StateCache`: llama.cpp's context for a conversation, kept on disk between runs.

Reading a long history again costs seconds to minutes on a laptop CPU. When a reply
ends, the engine writes the context (the KV cache of every token read or generated)
to a file, with the tokens it holds beside it; when a later prompt starts with many of
the same tokens, the file is read back and only the rest of the prompt is evaluated.

Files are keyed by the model file's identity (path, size, modification time) and the
context size, and named by a hash of their tokens. The folder is bounded: past
`max_bytes`, the least recently used files go. A file that does not match, is cut
short or is damaged is removed and ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from r1chat.text import shared_prefix

DEFAULT_MAX_BYTES = 2 * 1024**3
SAVE_FROM = 256
"""Contexts shorter than this many tokens are quick to read again: not saved."""
GAIN_FROM = 128
"""A file is read only when it spares at least this many tokens of prompt reading."""
STATE, TOKENS = ".state", ".tokens"


@dataclass(frozen=True, slots=True)
class CachedContext:
    """A saved context that a prompt can start from."""

    state: Path
    tokens: int
    """How many of the file's tokens the prompt shares (from its start)."""


def model_key(model: Path, n_ctx: int) -> str:
    """Who a saved context belongs to: this model file, as it is now, at this context size."""
    try:
        stat = model.stat()
        identity = f"{model.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{n_ctx}"
    except OSError:
        identity = f"{model}|{n_ctx}"
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:20]


class StateCache:
    """A folder of saved llama.cpp contexts; see the module's docstring."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def best(self, key: str, tokens: Sequence[int], already: int = 0) -> CachedContext | None:
        """The saved context sharing the longest start with `tokens`, if it spares at least
        `GAIN_FROM` tokens more than the `already` cached in memory."""
        if not self.folder.is_dir():
            return None
        best: CachedContext | None = None
        for listing in self.folder.glob(f"{key}-*{TOKENS}"):
            saved = self._tokens(listing)
            state = listing.with_suffix(STATE)
            if saved is None or not state.is_file():
                self._drop(listing)
                continue
            shared = shared_prefix(saved, tokens)
            if shared >= already + GAIN_FROM and (best is None or shared > best.tokens):
                best = CachedContext(state, shared)
        return best

    def used(self, context: CachedContext) -> None:
        """Mark a file as just used (it is evicted last)."""
        now = time.time()
        for path in (context.state, context.state.with_suffix(TOKENS)):
            with contextlib.suppress(OSError):
                os.utime(path, (now, now))

    def save(self, key: str, tokens: Sequence[int], write: Callable[[Path], bool]) -> Path | None:
        """Keep a context holding `tokens`: `write(path)` writes llama.cpp's state there."""
        if len(tokens) < SAVE_FROM:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.folder.chmod(0o700)
        digest = hashlib.sha256(array("i", tokens).tobytes()).hexdigest()[:16]
        state = self.folder / f"{key}-{digest}{STATE}"
        temporary = state.with_name(f".{state.name}.{os.getpid()}")
        try:
            if not write(temporary):
                temporary.unlink(missing_ok=True)
                return None
            os.chmod(temporary, 0o600)
            listing = state.with_suffix(TOKENS)
            listing_tmp = listing.with_name(f".{listing.name}.{os.getpid()}")
            with open(listing_tmp, "wb") as out:
                array("i", tokens).tofile(out)
            os.chmod(listing_tmp, 0o600)
            os.replace(temporary, state)
            os.replace(listing_tmp, listing)
        except OSError:
            for leftover in (temporary, state.with_name(f".{state.name}.{os.getpid()}")):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            return None
        self._evict()
        return state

    def forget(self, context: CachedContext) -> None:
        """A file llama.cpp could not read: remove it."""
        self._drop(context.state.with_suffix(TOKENS))

    def info(self) -> tuple[int, int]:
        """How many contexts are saved, and their size in bytes."""
        files = self._states()
        return len(files), sum(size for _, size, _ in files)

    def clear(self) -> int:
        """Remove every saved context; returns how many there were."""
        files = self._states()
        for state, _, _ in files:
            self._drop(state.with_suffix(TOKENS))
        return len(files)

    def _states(self) -> list[tuple[Path, int, float]]:
        found = []
        if self.folder.is_dir():
            for state in self.folder.glob(f"*{STATE}"):
                with contextlib.suppress(OSError):
                    stat = state.stat()
                    found.append((state, stat.st_size, stat.st_mtime))
        return found

    def _evict(self) -> None:
        files = sorted(self._states(), key=lambda item: item[2])  # oldest use first
        total = sum(size for _, size, _ in files)
        for state, size, _ in files:
            if total <= self.max_bytes:
                break
            self._drop(state.with_suffix(TOKENS))
            total -= size

    def _tokens(self, listing: Path) -> array[int] | None:
        saved = array("i")
        try:
            data = listing.read_bytes()
        except OSError:
            return None
        if not data or len(data) % saved.itemsize:
            return None
        saved.frombytes(data)
        return saved

    def _drop(self, listing: Path) -> None:
        for path in (listing, listing.with_suffix(STATE)):
            with contextlib.suppress(OSError):
                path.unlink()
