"""Provides terminal-safe text: outside text never reaches a terminal as control bytes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Whole escape sequences first (so an OSC 52 or OSC 8 payload goes with its introducer),
# then any single control character left: C0 but tab and newline, DEL, and C1.
_SEQUENCES = re.compile(
    r"\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC ... BEL / ST
    r"|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # 8-bit OSC
    r"|\x1b[P_^X][^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, APC, PM, SOS
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|\x1b[ -/]*[0-~]"  # other ESC sequences
)
# Control characters, and the bidirectional embeddings, overrides and isolates that can
# make shown text read differently from what it is (U+202A-U+202E, U+2066-U+2069).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` as shown on a terminal: no escape sequences, control characters or bidi
    overrides (tab and newline stay). Stored text keeps them; only what is shown loses them.
    """
    if not text.isprintable():
        text = _CONTROLS.sub("", _SEQUENCES.sub("", text.replace("\r\n", "\n")))
    return text


def one_line(text: str, empty: str = "model") -> str:
    """`text` safe to show on one line: no control characters, runs of spaces made one."""
    return " ".join(terminal_safe(text).split()) or empty


def reply_markdown(question: str, answer: str, reasoning: str, model: str, note: str = "") -> str:
    """One reply as Markdown: the question, the reasoning and the answer, each under a
    heading (control characters removed)."""
    lines = [f"# Reply from {terminal_safe(model)}", ""]
    if note:
        lines += [f"*{terminal_safe(note)}*", ""]
    if question.strip():
        lines += ["## Question", "", terminal_safe(question), ""]
    if reasoning.strip():
        lines += ["## Thinking", "", terminal_safe(reasoning), ""]
    lines += ["## Answer", "", terminal_safe(answer) if answer.strip() else "*(no answer)*", ""]
    return "\n".join(lines).rstrip() + "\n"


def shared_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    """How many items (tokens, characters) `a` and `b` share from their start."""
    count = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        count += 1
    return count


def without_credentials(url: str, mark: str = "") -> str:
    """`url` with any user name and password taken out (`mark` in their place, `***@` for
    a message that says one was there); text that is no URL comes back as it is."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = mark + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


def moment_label(when: float, now: float | None = None) -> str:
    """When something happened, as short as it can be said: `14:05` today, `Mon 14:05`
    within the week, `2026-11-30 14:05` before (local time)."""
    import time
    from datetime import datetime

    moment = datetime.fromtimestamp(when)
    days = (datetime.fromtimestamp(time.time() if now is None else now).date() - moment.date()).days
    if days == 0:
        return moment.strftime("%H:%M")
    if 0 < days < 7:
        return moment.strftime("%a %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")
