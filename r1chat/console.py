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
    """`text` on one line, control bytes removed, padded or cut (with …) to `width`."""
    text = terminal_safe(" ".join(text.split()))
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"
