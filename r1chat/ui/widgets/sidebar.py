"""Provides `Sidebar`: saved conversations, newest first, with a filter box."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from r1chat.domain import Conversation
from r1chat.ui.plain import plain


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
        yield Input(placeholder="Filter chats", id="sidebar-filter")
        yield ConversationList(id="sidebar-list")

    def show(self, conversations: list[Conversation], current: str | None) -> None:
        """Replace the listed conversations, keeping the current one highlighted."""
        listing = self.query_one(ConversationList)
        listing.clear_options()
        for conversation in conversations:
            listing.add_option(Option(plain(conversation.title or "New chat"), id=conversation.id))
        if current is not None:
            try:
                listing.highlighted = listing.get_option_index(current)
            except Exception:
                listing.highlighted = None

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
