"""Provides `Sidebar`: saved conversations by day, newest first, with a full-text filter."""

from __future__ import annotations

import time
from datetime import datetime
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from r1chat.domain import Conversation
from r1chat.text import terminal_safe
from r1chat.ui.plain import plain


def now() -> float:
    """The time the list is grouped by (tests fix it)."""
    return time.time()


def day_group(when: float, now: float) -> str:
    """`Today`, `Yesterday`, `This week` or `Earlier`, by the local calendar."""
    today = datetime.fromtimestamp(now).date()
    day = datetime.fromtimestamp(when).date()
    days = (today - day).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days < 7:
        return "This week"
    return "Earlier"


def conversation_line(conversation: Conversation, now: float) -> Content:
    """The title, then its time (or date) and model, dim (all plain text)."""
    moment = datetime.fromtimestamp(conversation.updated_at)
    recent = (datetime.fromtimestamp(now).date() - moment.date()).days < 7
    when = moment.strftime("%a %H:%M" if recent else "%Y-%m-%d")
    if (datetime.fromtimestamp(now).date() - moment.date()).days == 0:
        when = moment.strftime("%H:%M")
    shown = conversation.model_shown
    details = when + (f" · {shown}" if shown else "")
    return plain(conversation.title or "New chat") + Content.styled(
        "\n" + terminal_safe(details), "dim"
    )


class ConversationList(OptionList):
    """The list itself; keys act on the highlighted conversation."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rename", "Rename", id="sidebar.rename", tooltip="Rename this conversation"),
        Binding(
            "f2",
            "rename",
            "Rename",
            id="sidebar.rename_f2",
            show=False,
            tooltip="Rename this conversation",
        ),
        Binding(
            "delete",
            "delete",
            "Delete",
            id="sidebar.delete",
            tooltip="Delete this conversation (asks first)",
        ),
    ]

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        """Textual's scroll views compare the virtual size a layout passes them (that of
        children they do not have) with their own, find it changed every time, and repaint
        their scrollbar: the whole height of the list, once for every frame of a streaming
        reply. The list sets its own virtual size and scrollbar when its options change, so
        a layout that leaves its size as it was changes nothing here."""
        if size == self.outer_size and container_size == self.container_size:
            return False
        return super()._size_updated(size, virtual_size, container_size, layout)

    def action_rename(self) -> None:
        if isinstance(self.parent, Sidebar) and (cid := self.parent.highlighted_id()):
            self.post_message(Sidebar.RenameRequested(cid))

    def action_delete(self) -> None:
        if isinstance(self.parent, Sidebar) and (cid := self.parent.highlighted_id()):
            self.post_message(Sidebar.DeleteRequested(cid))


class Sidebar(Vertical):
    """Lists conversations; posts what the user picks."""

    class Opened(Message):
        """Open this conversation."""

        def __init__(self, conversation_id: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    class RenameRequested(Message):
        """Ask for a new title for this conversation."""

        def __init__(self, conversation_id: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    class DeleteRequested(Message):
        """Delete this conversation, after asking."""

        def __init__(self, conversation_id: str) -> None:
            super().__init__()
            self.conversation_id = conversation_id

    class FilterChanged(Message):
        """The filter text changed: list again."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Filter (full text)", id="sidebar-filter")
        yield ConversationList(id="sidebar-list")

    def show(
        self, conversations: list[Conversation], current: str | None, filter_text: str = ""
    ) -> None:
        """Replace the listed conversations (grouped by day, each with its time and model),
        keeping the current one highlighted."""
        listing = self.query_one(ConversationList)
        listing.clear_options()
        if not conversations and filter_text.strip():
            listing.add_option(
                Option(
                    Content.assemble((f"Nothing matches {filter_text.strip()!r}", "italic"))
                    + Content("\nin titles or messages"),
                    disabled=True,
                )
            )
            return
        moment = now()
        group = None
        for conversation in conversations:
            label = day_group(conversation.updated_at, moment)
            if label != group:
                group = label
                listing.add_option(Option(Content.styled(label, "bold dim"), disabled=True))
            listing.add_option(Option(conversation_line(conversation, moment), id=conversation.id))
        if current is not None:
            try:
                listing.highlighted = listing.get_option_index(current)
            except Exception:
                listing.highlighted = None

    def conversation_ids(self) -> list[str]:
        """The listed conversations' ids, in order (group headers left out)."""
        listing = self.query_one(ConversationList)
        options = (listing.get_option_at_index(i) for i in range(listing.option_count))
        return [option.id for option in options if option.id is not None]

    def highlighted_id(self) -> str | None:
        """The id of the highlighted conversation."""
        listing = self.query_one(ConversationList)
        if listing.highlighted is None:
            return None
        return listing.get_option_at_index(listing.highlighted).id

    @property
    def filter_text(self) -> str:
        """What is typed in the filter box."""
        return self.query_one(Input).value

    @on(Input.Changed, "#sidebar-filter")
    def _filter(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.FilterChanged(event.value))

    @on(Input.Submitted, "#sidebar-filter")
    def _to_list(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(ConversationList).focus()

    @on(OptionList.OptionSelected, "#sidebar-list")
    def _open(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Opened(event.option.id))
