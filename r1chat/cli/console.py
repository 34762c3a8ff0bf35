"""Provides terminal output for the commands: a Rich console that never reads markup, and cells."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from r1chat.text import terminal_safe


def console(stream: TextIO | None = None) -> Any:
    """A Rich console for text from users, models and files: no markup, links or emoji codes."""
    from rich.console import Console

    return Console(file=stream or sys.stdout, highlight=False, markup=False, emoji=False)


def cell(text: str, width: int) -> str:
    """`text` on one line, control bytes removed, padded or cut (with …) to `width` cells
    (a wide character such as 日 takes two)."""
    from rich.cells import cell_len, set_cell_size

    text = terminal_safe(" ".join(text.split()))
    size = cell_len(text)
    if size <= width:
        return text + " " * (width - size)
    return set_cell_size(text, width - 1) + "…"


def cell_len(text: str) -> int:
    """How many terminal cells `text` takes on one line."""
    from rich.cells import cell_len as measure

    return int(measure(terminal_safe(" ".join(text.split()))))
