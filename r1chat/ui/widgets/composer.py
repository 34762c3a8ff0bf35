"""Provides `Composer`: the multi-line message box (Enter sends, Ctrl+J adds a line, Up edits)."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = ("ctrl+j", "shift+enter", "alt+enter")
LONG_PASTE = 50
"""Lines from which a paste gets a word on clearing the box or using an editor."""


class Composer(TextArea):
    """Where the user writes; grows with its text up to a few lines."""

    class Submitted(Message):
        """The user pressed Enter with some text."""

        def __init__(self, composer: Composer, text: str) -> None:
            super().__init__()
            self.composer = composer
            self.text = text

        @property
        def control(self) -> Composer:
            return self.composer

    class EditLastRequested(Message):
        """Up in an empty box: the user wants to edit their last message."""

    class LongPaste(Message):
        """A paste of `lines` lines or more landed in the box."""

        def __init__(self, lines: int) -> None:
            super().__init__()
            self.lines = lines

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            "",
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            highlight_cursor_line=False,
            placeholder="Message r1chat  (Enter sends · Ctrl+J new line)",
            **kwargs,  # type: ignore[arg-type]
        )

    async def _on_paste(self, event: events.Paste) -> None:
        # Textual calls TextArea's own handler after this one: it inserts the text.
        lines = event.text.count("\n") + 1
        if lines >= LONG_PASTE:
            self.post_message(self.LongPaste(lines))

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            if self.text.strip():
                self.post_message(self.Submitted(self, self.text))
            return
        if event.key == "up" and not self.text:
            event.prevent_default()
            event.stop()
            self.post_message(self.EditLastRequested())
            return
        if event.key in NEWLINE_KEYS:
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        await super()._on_key(event)
