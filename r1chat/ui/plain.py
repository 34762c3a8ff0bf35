"""Provides the one way outside text reaches the screen: plain `Content`, never markup.

Titles, model and theme names, file paths and error messages come from chats, model
files, config and the network. Parsed as markup, a `[/]` in a title crashes a widget and
an `[@click=…]` in an error message runs app actions when clicked, so every surface
(notifications, the palette, dialogs, the status bar, the sidebar, the help screen)
builds its text here: terminal-safe and never parsed.
"""

from __future__ import annotations

from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from r1chat.text import terminal_safe


def plain(text: object) -> Content:
    """`text` as shown: control and bidi characters removed, brackets literal."""
    return Content(terminal_safe(str(text)))


def highlighted(matcher: Matcher, text: str) -> Content:
    """`text` as plain content with the palette's fuzzy match highlighted."""
    content = plain(text)
    shown = content.plain
    score, offsets = matcher.fuzzy_search.match(matcher.query, shown)
    if not score:
        return content
    for offset in offsets:
        if not shown[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def escaped(text: object) -> str:
    """`text` for the few Textual arguments typed as markup strings (a palette hit's help)."""
    return escape(terminal_safe(str(text)))
