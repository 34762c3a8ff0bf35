"""Provides `HelpScreen`: every key binding, what it does, and where it applies."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from r1chat.text import terminal_safe

NEWLINE_HELP = (
    "ctrl+j",
    "New line in the message (also shift+enter where the terminal tells it apart)",
)


class HelpScreen(ModalScreen[None]):
    """Lists the bindings of the app, the chat screen and its widgets."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static(Content("r1chat keys"), classes="dialog-question")
            yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "where", "what it does")
        for key, action, where, tooltip in self.rows:
            # Rich `Text` (plain, never parsed): the table sizes its columns to it.
            table.add_row(*(Text(terminal_safe(cell)) for cell in (key, action, where, tooltip)))
        table.focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
