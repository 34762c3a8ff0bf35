"""Provides `MemoryScreen`: the facts r1chat remembers, to add, edit, switch off and delete."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from r1chat.errors import R1ChatError
from r1chat.text import terminal_safe
from r1chat.ui.keys import key_for
from r1chat.ui.screens.dialogs import ConfirmScreen, TextPromptScreen

if TYPE_CHECKING:
    from r1chat.core.service import ChatService, Fact


class MemoryScreen(ModalScreen[None]):
    """Every memory fact; changes are saved at once and used from the next prompt on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f3", "dismiss", "Close", id="memory.close", tooltip="Close the memory"),
        Binding("a", "add", "Add", id="memory.add", tooltip="Remember something new"),
        Binding("e,enter", "edit", "Edit", id="memory.edit", tooltip="Change this fact's text"),
        Binding(
            "space", "switch", "On/off", id="memory.toggle", tooltip="Switch this fact off or on"
        ),
        Binding("d,delete", "delete", "Delete", id="memory.delete", tooltip="Forget this fact"),
    ]

    def __init__(
        self, service: ChatService, on_change: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.service = service
        self.on_change = on_change
        """Called after every change, so the chat's next prompt uses the facts."""
        self.facts: list[Fact] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog memory-dialog"):
            yield Static(
                Content("Memory: what r1chat tells every chat about you"), classes="dialog-question"
            )
            yield DataTable(cursor_type="row", zebra_stripes=True, id="memory-table")
            yield Static(
                Content(
                    " · ".join(
                        f"{key_for(self.app, binding_id, default)} {what}"
                        for binding_id, default, what in (
                            ("memory.add", "a", "add"),
                            ("memory.edit", "e", "edit"),
                            ("memory.toggle", "space", "on/off"),
                            ("memory.delete", "d", "delete"),
                            ("memory.close", "escape", "close"),
                        )
                    )
                ),
                classes="memory-help",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "on", "fact")
        self.reload()
        table.focus()

    @work(group="memory-load", exclusive=True, exit_on_error=False, description="load memory")
    async def reload(self) -> None:
        self.facts = await asyncio.to_thread(self.service.all_facts)
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for fact in self.facts:
            table.add_row(
                Text(str(fact.id)),
                Text("on" if fact.enabled else "off", style="" if fact.enabled else "dim"),
                Text(terminal_safe(fact.text), style="" if fact.enabled else "dim"),
                key=str(fact.id),
            )
        if self.facts:
            table.move_cursor(row=min(row, len(self.facts) - 1))

    def _current(self) -> Fact | None:
        table = self.query_one(DataTable)
        if not self.facts or table.cursor_row >= len(self.facts):
            return None
        return self.facts[table.cursor_row]

    async def _change(self, call: object, *args: object) -> None:
        try:
            await asyncio.to_thread(call, *args)  # type: ignore[arg-type]
        except R1ChatError as error:
            self.notify(str(error), severity="error")
            return
        self.reload()
        if self.on_change is not None:
            await self.on_change()

    def action_add(self) -> None:
        def chosen(text: str | None) -> None:
            if text:
                self._apply(self.service.memory().add, text)

        self.app.push_screen(TextPromptScreen("Remember:"), chosen)

    def action_edit(self) -> None:
        fact = self._current()
        if fact is None:
            return

        def chosen(text: str | None) -> None:
            if text and text != fact.text:
                self._apply(self.service.memory().edit, fact.id, text)

        self.app.push_screen(TextPromptScreen(f"Fact {fact.id}:", fact.text), chosen)

    def action_switch(self) -> None:
        fact = self._current()
        if fact is not None:
            self._apply(self.service.memory().set_enabled, fact.id, not fact.enabled)

    def action_delete(self) -> None:
        fact = self._current()
        if fact is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply(self.service.memory().remove, fact.id)

        self.app.push_screen(ConfirmScreen(f"Forget fact {fact.id}?", confirm="Forget"), answered)

    @work(group="memory-change", exit_on_error=False, description="change memory")
    async def _apply(self, call: object, *args: object) -> None:
        await self._change(call, *args)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
