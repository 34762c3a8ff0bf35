"""Provides key names as people write them (`Ctrl+G`), looked up from the live keymap.

Every hint, notice and placeholder that names a key asks here, so a key remapped under
`[keymap]` in config.toml is named correctly everywhere.
"""

from __future__ import annotations

import re
from typing import Any

NAMES = {
    "escape": "Esc",
    "enter": "Enter",
    "space": "Space",
    "tab": "Tab",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "home": "Home",
    "end": "End",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "delete": "Del",
    "backspace": "Backspace",
    "insert": "Ins",
}


def key_label(keys: str) -> str:
    """The first of `keys` (`ctrl+g,f5`) as people write it: `Ctrl+G`."""
    key = keys.split(",")[0].strip()
    if not key:
        return "?"
    *modifiers, last = key.split("+") if key != "+" else ["+"]
    if last in NAMES:
        name = NAMES[last]
    elif len(last) == 1 or re.fullmatch(r"f\d{1,2}", last):
        name = last.upper()
    else:
        name = last.replace("_", " ").capitalize()
    return "+".join([*(m.capitalize() for m in modifiers), name])


def key_for(app: Any, binding_id: str, default: str) -> str:
    """The key that runs `binding_id` in `app` now (`default` keys when the app cannot say)."""
    look_up = getattr(app, "key", None)
    return str(look_up(binding_id)) if callable(look_up) else key_label(default)
