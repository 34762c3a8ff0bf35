"""Provides `StateCache`: llama.cpp's context for a conversation, kept on disk between runs.

Reading a long history again costs seconds to minutes on a laptop CPU. When a reply
ends, the engine writes the context (the KV cache of every token read or generated)
to a file, with the tokens it holds beside it; when a later prompt starts with many of
the same tokens, the file is read back and only the rest of the prompt is evaluated.

Files are keyed by the model file's identity (path, size, modification time) and the
context size, and named by a hash of their tokens. The tokens file starts with a header
naming that key, its token count and the state file's size and SHA-256, so a state file
renamed from another model, cut short or rotted is refused before llama.cpp reads it.
The folder is trusted no further than needed: it is not followed through a symbolic
link, anything but a regular file is skipped, a tokens file is read only up to a bound,
and half-written files left by a process that died are removed. Files are 0600, the
folder 0700. The folder is bounded: past `max_bytes`, the least recently used files go.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat as stat_kind
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
MAGIC = b"R1CTX2 "
"""How a tokens file with a header starts (older files without one are dropped)."""
MAX_TOKENS_BYTES = 64 * 1024 * 1024
"""A tokens file larger than this is not read (16 million tokens)."""
LEFTOVER_SECONDS = 3600.0
"""A half-written file older than this, or whose writer is gone, is removed."""


@dataclass(frozen=True, slots=True)
class CachedContext:
    """A saved context that a prompt can start from."""

    state: Path
    tokens: int
    """How many of the file's tokens the prompt shares (from its start)."""
    sha256: str = ""
    """The state file's checksum, as its tokens file records it."""


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
        if not self.usable():
            return None
        best: CachedContext | None = None
        for listing in self.folder.glob(f"{key}-*{TOKENS}"):
            if not _regular(listing):
                continue  # not ours to read or remove
            found = self._read(listing, key)
            if found is None:
                self._drop(listing)
                continue
            saved, digest = found
            shared = shared_prefix(saved, tokens)
            if shared >= already + GAIN_FROM and (best is None or shared > best.tokens):
                best = CachedContext(listing.with_suffix(STATE), shared, digest)
        return best

    def intact(self, context: CachedContext) -> bool:
        """Whether `context`'s state file is the one its tokens file recorded (checksum);
        a damaged one is removed."""
        if not _regular(context.state):
            return False
        try:
            digest = _sha256(context.state)
        except OSError:
            return False
        if digest != context.sha256:
            self.forget(context)
            return False
        return True

    def usable(self) -> bool:
        """Whether the folder is a real folder of ours (not a link to somewhere else)."""
        return self.folder.is_dir() and not self.folder.is_symlink()

    def used(self, context: CachedContext) -> None:
        """Mark a file as just used (it is evicted last)."""
        now = time.time()
        for path in (context.state, context.state.with_suffix(TOKENS)):
            with contextlib.suppress(OSError):
                os.utime(path, (now, now))

    def save(self, key: str, tokens: Sequence[int], write: Callable[[Path], bool]) -> Path | None:
        """Keep a context holding `tokens`: `write(path)` writes llama.cpp's state there."""
        if len(tokens) < SAVE_FROM or self.folder.is_symlink():
            return None
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.usable():
            return None
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
            header = {
                "key": key,
                "count": len(tokens),
                "state_size": temporary.stat().st_size,
                "state_sha256": _sha256(temporary),
            }
            handle = os.open(listing_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(handle, "wb") as out:
                out.write(MAGIC + json.dumps(header).encode() + b"\n")
                array("i", tokens).tofile(out)
            os.replace(temporary, state)
            os.replace(listing_tmp, listing)
        except OSError:
            listing_tmp = state.with_suffix(TOKENS)
            listing_tmp = listing_tmp.with_name(f".{listing_tmp.name}.{os.getpid()}")
            for leftover in (temporary, listing_tmp):
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
        self._clean_leftovers()
        files = self._states()
        return len(files), sum(size for _, size, _ in files)

    def clear(self) -> int:
        """Remove every saved context of ours; returns how many there were."""
        self._clean_leftovers()
        files = self._states()
        for state, _, _ in files:
            self._drop(state.with_suffix(TOKENS))
        return len(files)

    def _states(self) -> list[tuple[Path, int, float]]:
        found = []
        if self.usable():
            for state in self.folder.glob(f"*{STATE}"):
                with contextlib.suppress(OSError):
                    stat = state.lstat()
                    if stat_kind.S_ISREG(stat.st_mode):
                        found.append((state, stat.st_size, stat.st_mtime))
        return found

    def _clean_leftovers(self) -> None:
        """Remove half-written files (`.NAME.PID`) whose writer died or that are old."""
        if not self.usable():
            return
        now = time.time()
        for leftover in self.folder.glob(".*.*"):
            pid_text = leftover.name.rsplit(".", 1)[-1]
            with contextlib.suppress(OSError):
                stat = leftover.lstat()
                if not stat_kind.S_ISREG(stat.st_mode):
                    continue
                gone = not pid_text.isdigit() or not _alive(int(pid_text))
                if gone or now - stat.st_mtime > LEFTOVER_SECONDS:
                    leftover.unlink()

    def _evict(self) -> None:
        files = sorted(self._states(), key=lambda item: item[2])  # oldest use first
        total = sum(size for _, size, _ in files)
        for state, size, _ in files:
            if total <= self.max_bytes:
                break
            self._drop(state.with_suffix(TOKENS))
            total -= size

    def _read(self, listing: Path, key: str) -> tuple[array[int], str] | None:
        """A tokens file's tokens and recorded state checksum, if it is whole and this
        key's; `None` for anything else (too big, no header, another model's, cut short)."""
        saved = array("i")
        try:
            with open(listing, "rb") as file:
                if os.fstat(file.fileno()).st_size > MAX_TOKENS_BYTES:
                    return None
                data = file.read(MAX_TOKENS_BYTES + 1)
            head, newline, body = data.partition(b"\n")
            if not head.startswith(MAGIC) or not newline:
                return None
            header = json.loads(head[len(MAGIC) :])
            state_size = listing.with_suffix(STATE).lstat()
        except (OSError, ValueError):
            return None
        if not isinstance(header, dict) or header.get("key") != key:
            return None
        if not stat_kind.S_ISREG(state_size.st_mode):
            return None
        if header.get("state_size") != state_size.st_size or len(body) % saved.itemsize:
            return None
        saved.frombytes(body)
        if header.get("count") != len(saved) or not isinstance(header.get("state_sha256"), str):
            return None
        return saved, str(header["state_sha256"])

    def _drop(self, listing: Path) -> None:
        for path in (listing, listing.with_suffix(STATE)):
            with contextlib.suppress(OSError):
                if stat_kind.S_ISREG(path.lstat().st_mode):
                    path.unlink()


def _regular(path: Path) -> bool:
    try:
        return stat_kind.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
