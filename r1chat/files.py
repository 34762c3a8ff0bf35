"""Provides `write_private`: files that hold chats or settings, readable only by the user."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create `path` if needed; r1chat's own folders are made readable only by the user."""
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # a folder that is not ours (an export's) stays as is
        if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` in one step, mode 0600 whatever the umask.

    The text goes to a private temporary file beside `path`, which then replaces it:
    a reader never sees half a file, and a failed write leaves nothing behind.

    Raises:
        OSError: when the folder cannot be written (the temporary file is removed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:  # mkstemp makes it 0600
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def open_private_append(path: Path) -> object:
    """`path` opened for appending text, created 0600 (a log that may quote chats)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return os.fdopen(handle, "a", encoding="utf-8")
