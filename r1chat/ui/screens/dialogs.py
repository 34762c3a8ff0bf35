"""Provides the small dialogs: confirm a choice, type a title."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from r1chat.text import terminal_safe
from r1chat.ui.plain import plain


class ConfirmScreen(ModalScreen[bool]):
    """Asks a yes/no question; dismisses with the answer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "answer(False)",
            "Cancel",
            id="dialog.cancel",
            tooltip="Keep things as they are",
        ),
        Binding("y", "answer(True)", "Yes", id="dialog.yes", tooltip="Go ahead"),
        Binding("n", "answer(False)", "No", id="dialog.no", tooltip="Keep things as they are"),
    ]

    def __init__(self, question: str, confirm: str = "Yes", cancel: str = "Cancel") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.confirm_label = confirm
        self.cancel_label = cancel

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(plain(self.question), classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, variant="error", id="confirm")
                yield Button(self.cancel_label, id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class TextPromptScreen(ModalScreen[str | None]):
    """Asks for one line of text (a new title); dismisses with it, or `None`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "cancel", "Cancel", id="dialog.cancel_text", tooltip="Leave it as it was"
        ),
    ]

    def __init__(self, question: str, value: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(plain(self.question), classes="dialog-question")
            # Shown for editing, so it goes in as it would be shown: no control characters.
            yield Input(terminal_safe(self.value).replace("\n", " "), id="dialog-input")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoiceScreen(ModalScreen[str | None]):
    """A question and a list of answers; dismisses with the chosen one's key, or `None`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel_choice", tooltip="Choose nothing"),
    ]

    def __init__(self, question: str, choices: list[tuple[str, str]], current: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.choices = choices
        """(key, label) pairs; labels are shown as plain text."""
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content(self.question), classes="dialog-question")
            yield OptionList(*[Option(plain(label), id=key) for key, label in self.choices])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        keys = [key for key, _ in self.choices]
        if self.current in keys:
            options.highlighted = keys.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.answer(event.option.id or ""))

    def answer(self, key: str) -> str:
        """What the dialog dismisses with when the choice with `key` is picked."""
        return key

    def action_cancel(self) -> None:
        self.dismiss(None)


class LinkChooserScreen(ChoiceScreen, inherit_bindings=False):
    """Lists an answer's web links; dismisses with the chosen one, or `None`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel_link", tooltip="Open nothing"),
    ]

    def __init__(self, urls: list[str]) -> None:
        super().__init__("Open which link?", [(str(i), url) for i, url in enumerate(urls)])
        self.urls = urls

    def answer(self, key: str) -> str:
        return self.urls[int(key or 0)]
