"""Provides `check_keymap`: the `[keymap]` table of config.toml checked against every
binding of the app, before the app starts.

An entry is refused when it names no binding, names a key no terminal sends
(`ctrl+shift+hyper+q`), gives a typing key to a chat-wide action, takes a key that
another action already has in the same place (`"chat.regenerate" = "ctrl+g"` while
Think on has Ctrl+G on the chat screen), or takes a key that the text field you type in
there keeps for itself (`"chat.stop" = "ctrl+k"`: the message box deletes to the end of
the line with it, so the key would never reach r1chat while you type, and the footer
would not show it). Each refusal is one sentence that names the line of config.toml it
comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from textual.binding import Binding
from textual.keys import Keys, key_to_character

QUIT_ID, QUIT_KEY = "app.quit", "ctrl+q"
MODIFIERS = ("ctrl", "alt", "shift", "meta")
"""What terminals send with a key; `super` and `hyper` reach few of them."""
FUNCTION_KEY = re.compile(r"f([1-9]|1\d|2[0-4])")
NAMED_KEYS = {key.value for key in Keys if "+" not in key.value and "-" not in key.value} | {
    "space",
    "enter",
    "tab",
    "backspace",
    "delete",
    "insert",
}
TYPING = ("space", "enter", "tab", "backspace", "delete")

APP_BINDINGS: tuple[Binding, ...] = (
    Binding(
        "ctrl+q",
        "quit",
        "Quit",
        id="app.quit",
        priority=True,
        tooltip="Quit r1chat (everything is saved)",
    ),
    Binding("f1", "help", "Help", id="app.help", show=False, tooltip="List every key"),
    Binding(
        "ctrl+c",
        "copy_or_quit",
        "Copy / quit",
        id="app.copy_or_quit",
        priority=True,
        show=False,
        tooltip="Copy the selected text, or press twice to quit",
    ),
)
"""Bindings that work anywhere in the app."""


@dataclass(frozen=True)
class Place:
    """Where a group of bindings works, with the bindings active there together."""

    name: str
    """To follow `has`: `on the chat screen`, `in search`."""
    bindings: tuple[Binding, ...]
    field: str = ""
    """The text field that has the keys while you type there (`the message box`)."""
    field_keys: tuple[tuple[str, str], ...] = ()
    """The keys that field keeps for itself, each with what it does (`Delete to line end`)."""


@dataclass(frozen=True)
class KeymapProblem:
    """One refused `[keymap]` entry."""

    binding_id: str
    reason: str
    """What is wrong, to follow `"chat.x" = "…"`: `names no binding`, …"""

    def sentence(self, config_text: str = "", file: str = "config.toml") -> str:
        """`config.toml line 12: "chat.regenerate" = "ctrl+g" … ; what to do.`"""
        line = keymap_line(config_text, self.binding_id)
        where = f"{file} line {line}" if line else f"{file} [keymap]"
        return f"{where}: {self.reason}."


def _bindings(owner: Any) -> tuple[Binding, ...]:
    return tuple(b for b in getattr(owner, "BINDINGS", ()) if isinstance(b, Binding))


def _own_keys(*fields: type) -> tuple[tuple[str, str], ...]:
    """The keys text fields of these classes bind themselves (their classes' bindings, as
    Textual merges them), each with what it does."""
    keys: dict[str, str] = {}
    for field in fields:
        for owner in reversed(field.__mro__):
            for binding in vars(owner).get("BINDINGS", ()):
                if isinstance(binding, Binding):
                    for key in binding.key.split(","):
                        keys[key.strip()] = binding.description or binding.action
    return tuple(keys.items())


def places() -> list[Place]:
    """Every place with bindings, each with the app-wide ones it shares its keys with
    and the text field, if any, that has the keys while you type there."""
    from textual.widgets import Input, TextArea

    from r1chat.ui.screens.chat import ChatScreen
    from r1chat.ui.screens.dialogs import (
        ChoiceScreen,
        ConfirmScreen,
        LinkChooserScreen,
        TextPromptScreen,
    )
    from r1chat.ui.screens.help import HelpScreen
    from r1chat.ui.screens.memory import MemoryScreen
    from r1chat.ui.screens.search import SearchScreen
    from r1chat.ui.screens.settings import ChatSettingsScreen
    from r1chat.ui.screens.stats import StatsScreen
    from r1chat.ui.widgets.composer import Composer
    from r1chat.ui.widgets.conversation import ConversationView
    from r1chat.ui.widgets.messages import AssistantMessage, UserMessage
    from r1chat.ui.widgets.sidebar import ConversationList

    app = APP_BINDINGS
    chat = app + _bindings(ChatScreen)
    found = [Place("on the chat screen", chat, "the message box", _own_keys(Composer))]
    for name, widget in (
        ("in the conversation", ConversationView),
        ("on a focused message", UserMessage),
        ("on a focused answer", AssistantMessage),
        ("in the list of chats", ConversationList),
    ):
        found.append(Place(name, chat + _bindings(widget)))
    line = _own_keys(Input)
    for name, screen, field, keys in (
        ("in help", HelpScreen, "", ()),
        ("in search", SearchScreen, "the search box", line),
        ("in the memory screen", MemoryScreen, "", ()),
        ("in the usage screen", StatsScreen, "", ()),
        ("in chat settings", ChatSettingsScreen, "a settings field", _own_keys(Input, TextArea)),
        ("in a question", ConfirmScreen, "", ()),
        ("in a text prompt", TextPromptScreen, "the text box", line),
        ("in the link chooser", LinkChooserScreen, "", ()),
        ("in a list to choose from", ChoiceScreen, "", ()),
    ):
        found.append(Place(name, app + _bindings(screen), field, keys))
    return found


def binding_ids(found: Iterable[Place] | None = None) -> set[str]:
    """Every id a `[keymap]` entry may name."""
    return {b.id for place in (found or places()) for b in place.bindings if b.id}


def key_problem(key: str) -> str | None:
    """Why no terminal sends `key` (`None`: it is a key)."""
    if not key:
        return "an empty key"
    if len(key) == 1:
        return None if key.isprintable() and not key.isspace() else f"{key!r} is not a key"
    *modifiers, last = key.split("+")
    if not last:
        return f"{key!r} ends with +"
    for modifier in modifiers:
        if modifier not in MODIFIERS:
            return (
                f"{modifier!r} in {key!r} is not a modifier terminals send (use ctrl, alt or shift)"
            )
    if len(set(modifiers)) != len(modifiers):
        return f"{key!r} repeats a modifier"
    if len(last) == 1 or FUNCTION_KEY.fullmatch(last) or last in NAMED_KEYS:
        return None
    character = key_to_character(last)  # `plus`, `full_stop`, `e_acute`: keys of keyboards
    if character is not None and ord(character) < 0x250:
        return None
    return f"{last!r} in {key!r} is not a key name (try ctrl+l, f5, pageup)"


def types_text(key: str) -> bool:
    """Whether pressing `key` types into the message box (a letter, space, enter)."""
    return (
        len(key) == 1
        or key in TYPING
        or (key.startswith("shift+") and len(key) == len("shift+") + 1)
    )


def check_keymap(keymap: dict[str, str]) -> tuple[dict[str, str], list[KeymapProblem]]:
    """The entries that can be used (binding id → keys, normalised), and why each of the
    others cannot. Quit keeps Ctrl+Q whatever the keymap says, so r1chat can be left."""
    found = places()
    known = binding_ids(found)
    checked: dict[str, str] = {}
    problems: list[KeymapProblem] = []
    for binding_id, keys in keymap.items():
        entry = f'"{binding_id}" = "{keys}"'
        if binding_id not in known:
            problems.append(
                KeymapProblem(
                    binding_id, f"{entry} names no binding (the app's help, F1, lists every id)"
                )
            )
            continue
        parts = [part.strip().lower() for part in str(keys).split(",")]
        wrong = next((why for part in parts if (why := key_problem(part))), None)
        if wrong:
            problems.append(KeymapProblem(binding_id, f"{entry}: {wrong}"))
            continue
        typed = [part for part in parts if types_text(part)]
        if typed and binding_id.startswith(("app.", "chat.")):
            problems.append(
                KeymapProblem(
                    binding_id,
                    f"{entry}: {typed[0]!r} types text in the message box "
                    "(use a key with ctrl or a function key)",
                )
            )
            continue
        kept = _kept_by_field(found, binding_id, parts)
        if kept:
            problems.append(KeymapProblem(binding_id, f"{entry}: {kept}"))
            continue
        checked[binding_id] = ",".join(parts)
    clashes = _clashes(found, checked)
    for binding_id, reason in clashes.items():
        problems.append(
            KeymapProblem(binding_id, f'"{binding_id}" = "{keymap[binding_id]}" {reason}')
        )
        checked.pop(binding_id, None)
    if QUIT_ID in checked and QUIT_KEY not in checked[QUIT_ID].split(","):
        checked[QUIT_ID] += f",{QUIT_KEY}"
    return checked, problems


def _kept_by_field(found: list[Place], binding_id: str, keys: list[str]) -> str | None:
    """Why `keys` cannot work for `binding_id`: a text field keeps one of them for itself
    where the binding works (Textual offers a key to the focused widget first), unless the
    binding comes first anyway (priority) or has that key as shipped."""
    for place in found:
        binding = next((b for b in place.bindings if b.id == binding_id), None)
        if binding is None or binding.priority or not place.field_keys:
            continue
        own = dict(place.field_keys)
        shipped = {part.strip() for part in binding.key.split(",")}
        for key in keys:
            if key in own and key not in shipped:
                return (
                    f"{place.field} keeps {key} for itself {place.name} ({own[key]}), so r1chat "
                    "would not see it while you type there (pick another key)"
                )
    return None


def _clashes(found: list[Place], keymap: dict[str, str]) -> dict[str, str]:
    """Entries whose key another action has in the same place (only clashes an entry
    makes: the bindings as shipped may share a key between places on purpose)."""
    clashes: dict[str, str] = {}
    for place in found:
        holders: dict[str, list[Binding]] = {}
        for binding in place.bindings:
            keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
            for key in {part.strip() for part in keys.split(",")}:
                holders.setdefault(key, []).append(binding)
        shipped: dict[str, set[str]] = {}
        for binding in place.bindings:
            for key in {part.strip() for part in binding.key.split(",")}:
                shipped.setdefault(key, set()).add(binding.id or binding.action)
        for key, bindings in holders.items():
            ids = {b.id or b.action for b in bindings}
            if len(ids) < 2 or ids <= shipped.get(key, set()):
                continue  # one action, or a key they share as shipped
            for binding in bindings:
                if binding.id in keymap and binding.id not in clashes:
                    other = next(b for b in bindings if (b.id or b.action) != binding.id)
                    clashes[binding.id] = (
                        f"takes {key}, which {other.description or other.action} "
                        f"({other.id or other.action}) has {place.name}: pick another "
                        f"key, or move {other.id or 'that one'} too"
                    )
    return clashes


def keymap_line(config_text: str, binding_id: str) -> int | None:
    """The line of config.toml where `[keymap]` sets `binding_id` (1-based)."""
    in_keymap = False
    key = re.compile(rf"""\s*(["']?){re.escape(binding_id)}\1\s*=""")
    dotted = re.compile(rf"""\s*keymap\.(["']?){re.escape(binding_id)}\1\s*=""")
    for number, line in enumerate(config_text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_keymap = stripped.split("#", 1)[0].strip() == "[keymap]"
            continue
        if (in_keymap and key.match(line)) or dotted.match(line):
            return number
    return None
