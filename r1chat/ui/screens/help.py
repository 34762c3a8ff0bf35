"""Provides `HelpScreen`: every key binding, what it does, and where it applies."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from r1chat.text import terminal_safe

NEWLINE_HELP = (
    "ctrl+j",
    "New line in the message (also shift+enter where the terminal tells it apart)",
)


class HelpScreen(ModalScreen[None]):
    """Lists the bindings of the app, the chat screen and its widgets, grouped by where they
    work; each line wraps to the width and ends with the id `[keymap]` takes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, rows: list[tuple[str, str, str, str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.rows = rows
        """(key, action, where, what it does, binding id) for every key."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static(
                Content("r1chat keys (change one in config.toml's [keymap] by its id)"),
                classes="dialog-question",
            )
            with VerticalScroll(id="help-list", can_focus=True):
                where = None
                for key, action, place, tooltip, binding_id in self.rows:
                    if place != where:
                        where = place
                        yield Static(Content.styled(terminal_safe(place), "bold underline"))
                    line = Content.assemble(
                        (f"{terminal_safe(key):<16}", "bold"),
                        f"{terminal_safe(action):<16}",
                        terminal_safe(tooltip),
                        (f"  {binding_id}" if binding_id else "", "dim"),
                    )
                    yield Static(line, classes="help-line")

    def on_mount(self) -> None:
        self.query_one("#help-list").focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
