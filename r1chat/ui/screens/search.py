"""Provides `SearchScreen`: full-text search over every saved chat, as you type."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList, Switch
from textual.widgets.option_list import Option

from r1chat.errors import R1ChatError
from r1chat.text import terminal_safe

if TYPE_CHECKING:
    from r1chat.core.service import ChatService, SearchHit

DEBOUNCE = 0.06
"""Seconds after the last keystroke before the search runs."""
RESULTS = 50


def hit_content(hit: SearchHit) -> Content:
    """Title, date and where it matched on one line; the snippet with its matches
    highlighted below (built as `Content` spans: nothing in it is read as markup)."""
    when = datetime.fromtimestamp(hit.updated_at).strftime("%Y-%m-%d")
    where = {"reasoning": "in the thinking", "title": "in the title"}.get(hit.field, "")
    head = Content.assemble(
        (terminal_safe(hit.conversation_title or "New chat"), "bold"),
        ("  " + when + (f" · {where}" if where else ""), "dim"),
    )
    parts: list[Content | tuple[str, str] | str] = [head, "\n"]
    for text, matched in hit.parts():
        parts.append((terminal_safe(text), "bold reverse") if matched else terminal_safe(text))
    return Content.assemble(*parts)


class SearchScreen(ModalScreen[tuple[str, str | None] | None]):
    """Dismisses with (conversation id, message id) of the chosen hit, or `None`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="search.close", tooltip="Close the search"),
        Binding("down", "to_results", "Results", id="search.results", show=False),
    ]

    def __init__(self, service: ChatService) -> None:
        super().__init__(classes="dialog-screen")
        self.service = service
        self.hits: list[SearchHit] = []
        self._timer: Timer | None = None
        self.searches = 0
        """Searches run so far (each keystroke pause runs one)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog search-dialog"):
            with Horizontal(classes="search-row"):
                yield Input(placeholder="Search every chat", id="search-input")
                yield Label(Content("reasoning"), classes="search-switch-label")
                yield Switch(False, id="search-reasoning", tooltip="Search the thinking too")
            yield OptionList(id="search-results")
            yield Label(Content(""), id="search-status", classes="search-status")

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()

    @on(Input.Changed, "#search-input")
    @on(Switch.Changed, "#search-reasoning")
    def _soon(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self._search)

    @on(Input.Submitted, "#search-input")
    def _submitted(self) -> None:
        results = self.query_one("#search-results", OptionList)
        if results.option_count:
            results.highlighted = 0
            results.focus()

    def _search(self) -> None:
        query = self.query_one("#search-input", Input).value.strip()
        thinking = self.query_one("#search-reasoning", Switch).value
        self._run(query, thinking)

    @work(group="search", exclusive=True, exit_on_error=False, description="search chats")
    async def _run(self, query: str, thinking: bool) -> None:
        status = self.query_one("#search-status", Label)
        if not query:
            self.hits = []
            self._show()
            status.update(Content(""))
            return
        try:
            hits = await asyncio.to_thread(self.service.search, query, thinking, RESULTS)
        except R1ChatError as error:
            status.update(Content(str(error)))
            return
        self.searches += 1
        self.hits = hits
        self._show()
        if not hits:
            more = "" if thinking else " (switch on thinking to search it too)"
            status.update(Content(f"Nothing matches {terminal_safe(query)!r}{more}."))
        else:
            status.update(Content(f"{len(hits)} match{'es' if len(hits) != 1 else ''}"))

    def _show(self) -> None:
        results = self.query_one("#search-results", OptionList)
        results.clear_options()
        results.add_options(Option(hit_content(hit)) for hit in self.hits)

    @on(OptionList.OptionSelected, "#search-results")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        hit = self.hits[event.option_index]
        self.dismiss((hit.conversation_id, hit.message_id))

    def action_to_results(self) -> None:
        self._submitted()

    def action_close(self) -> None:
        self.dismiss(None)
