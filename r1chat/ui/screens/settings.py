"""Provides `ChatSettingsScreen`: one chat's system prompt and sampling, and a way to its model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, Switch, TextArea

from r1chat.config import budget_problem
from r1chat.domain import GenerationParams
from r1chat.ui.plain import plain


@dataclass(frozen=True, slots=True)
class ChatSettingsChoice:
    """What the user saved in the dialog."""

    params: GenerationParams
    system_prompt: str
    switch_model: bool = False
    """The user asked to pick another model next (the palette opens)."""


class ChatSettingsScreen(ModalScreen[ChatSettingsChoice | None]):
    """Edits the current chat's settings; dismisses with them, or `None` to keep all."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel_settings", tooltip="Keep all"),
        Binding("ctrl+s", "save", "Save", id="dialog.save_settings", tooltip="Save the settings"),
    ]

    def __init__(
        self,
        *,
        model: str,
        system_prompt: str,
        params: GenerationParams,
        reasoning: bool = True,
        usage: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.usage = usage
        """This chat's totals as one line, read off the UI thread once the dialog is up."""
        self.model_name = model
        self.system_prompt = system_prompt
        self.params = params
        self.reasoning = reasoning
        """The model reasons: the thinking settings apply (otherwise they are kept, unused)."""

    def compose(self) -> ComposeResult:
        params = self.params
        with Vertical(classes="dialog settings-dialog"):
            yield Label(Content("Settings of this chat"), classes="dialog-question")
            yield Label(plain(f"Model: {self.model_name}"))
            if self.usage is not None:
                yield Static(Content("This chat: counting…"), id="settings-usage")
            yield Label(Content("System prompt (R1 models get it inside your first message)"))
            yield TextArea(self.system_prompt, id="settings-system", soft_wrap=True)
            with Horizontal(classes="settings-row"):
                yield Label(Content("Temperature"))
                yield Input(_text(params.temperature), id="settings-temperature", type="number")
                yield Label(Content("top_p"))
                yield Input(_text(params.top_p), id="settings-top-p", type="number")
            with Horizontal(classes="settings-row"):
                yield Label(Content("Max tokens"))
                yield Input(
                    _text(params.max_tokens), id="settings-max-tokens", placeholder="no limit"
                )
                yield Label(Content("Seed"))
                yield Input(_text(params.seed), id="settings-seed", placeholder="-1 random")
            with Horizontal(classes="settings-row"):
                yield Label(Content("Thinking"))
                yield Switch(params.thinking, id="settings-thinking", disabled=not self.reasoning)
                yield Label(Content("Budget"))
                yield Input(
                    _text(params.think_budget),
                    id="settings-think-budget",
                    placeholder="no limit",
                    disabled=not self.reasoning,
                    tooltip="Thinking tokens before the model is made to answer",
                )
            with Horizontal(classes="settings-row"):
                yield Label(Content("Memory"))
                yield Switch(
                    params.memory,
                    id="settings-memory",
                    tooltip="Send the memory facts (F3) with this chat",
                )
            if not self.reasoning:
                yield Label(
                    Content("This model does not reason: the thinking settings change nothing."),
                    classes="settings-note",
                )
            yield Label("", id="settings-problem", classes="settings-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Switch model…", id="model")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self._save(switch_model=event.button.id == "model")

    def action_save(self) -> None:
        self._save(switch_model=False)

    def on_mount(self) -> None:
        if self.usage is not None:
            self._load_usage(self.usage)

    @work(group="settings-usage", exit_on_error=False, description="count this chat's usage")
    async def _load_usage(self, usage: Callable[[], str]) -> None:
        line = await asyncio.to_thread(usage)
        self.query_one("#settings-usage", Static).update(plain(line))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _save(self, switch_model: bool) -> None:
        try:
            params = GenerationParams(
                temperature=_number(self._value("#settings-temperature"), "Temperature", 0, 5),
                top_p=_number(self._value("#settings-top-p"), "top_p", 0.01, 1),
                max_tokens=_whole(self._value("#settings-max-tokens"), "Max tokens", 1),
                seed=_whole(self._value("#settings-seed"), "Seed", -1) or -1,
                think_budget=_whole(self._value("#settings-think-budget"), "Budget", 1),
                thinking=self.query_one("#settings-thinking", Switch).value,
                memory=self.query_one("#settings-memory", Switch).value,
            )
            problem = budget_problem(params.think_budget, params.max_tokens)
            if problem:
                raise ValueError(problem + ".")
        except ValueError as problem:
            self.query_one("#settings-problem", Label).update(plain(problem))
            return
        system_prompt = self.query_one("#settings-system", TextArea).text.strip()
        self.dismiss(ChatSettingsChoice(params, system_prompt, switch_model))

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()


def _text(value: float | int | None) -> str:
    return "" if value is None else str(value)


def _number(text: str, name: str, low: float, high: float) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}.") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}.")
    return value


def _whole(text: str, name: str, low: int) -> int | None:
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of at least {low}.") from None
    if value < low:
        raise ValueError(f"{name} must be a whole number of at least {low}.")
    return value
