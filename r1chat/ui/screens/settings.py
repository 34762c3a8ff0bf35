"""Provides `ChatSettingsScreen`: one chat's system prompt and sampling, and a way to its model."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch, TextArea

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

    AUTO_FOCUS = "#settings-system"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel_settings", tooltip="Keep all"),
        Binding("ctrl+s", "save", "Save", id="dialog.save_settings", tooltip="Save the settings"),
        Binding(
            "down",
            "app.focus_next",
            "Next field",
            id="dialog.next_field",
            show=False,
            tooltip="The next field (Tab too; inside the system prompt, the arrows move in it)",
        ),
        Binding(
            "up",
            "app.focus_previous",
            "Previous field",
            id="dialog.previous_field",
            show=False,
            tooltip="The previous field (Shift+Tab too)",
        ),
    ]

    def __init__(
        self,
        *,
        model: str,
        system_prompt: str,
        params: GenerationParams,
        reasoning: bool = True,
        usage: Callable[[], str] | None = None,
        presets: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.presets = presets or {}
        """`[presets.NAME]` values by name: choosing one fills the fields in."""
        self.usage = usage
        """This chat's totals as one line, read off the UI thread once the dialog is up."""
        self.model_name = model
        self.system_prompt = system_prompt
        self.params = params
        self.reasoning = reasoning
        """The model reasons: the thinking settings apply (otherwise they are kept, unused)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog settings-dialog"):
            # It scrolls (overflow in the stylesheet) without a scroll view's own arrow
            # keys, so Up and Down move between the fields.
            with Vertical(classes="settings-fields"):
                yield from self._fields()
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Switch model…", id="model")
                yield Button("Cancel", id="cancel")

    def _fields(self) -> ComposeResult:
        """The fields, in a part that scrolls on a short terminal (the buttons stay)."""
        params = self.params
        yield Label(Content("Settings of this chat"), classes="dialog-question")
        yield Label(plain(f"Model: {self.model_name}"))
        if self.usage is not None:
            yield Static(Content("This chat: counting…"), id="settings-usage")
        if self.presets:
            with Horizontal(classes="settings-row"):
                yield Label(Content("Preset"))
                yield Select(
                    [(plain(name), name) for name in self.presets],
                    prompt="fill in from a preset…",
                    id="settings-preset",
                    tooltip="[presets.NAME] in config.toml: fills in the fields below",
                )
        yield Label(Content("System prompt (R1 models get it inside your first message)"))
        yield TextArea(self.system_prompt, id="settings-system", soft_wrap=True)
        with Horizontal(classes="settings-row"):
            yield Label(Content("Temperature"))
            yield Input(_text(params.temperature), id="settings-temperature", type="number")
            yield Label(Content("top_p"))
            yield Input(_text(params.top_p), id="settings-top-p", type="number")
        with Horizontal(classes="settings-row"):
            yield Label(Content("Max tokens"))
            yield Input(_text(params.max_tokens), id="settings-max-tokens", placeholder="no limit")
            yield Label(Content("Seed"))
            yield Input(_text(params.seed), id="settings-seed", placeholder="-1 random")
        with Horizontal(classes="settings-row"):
            yield Label(Content("Thinking"))
            yield Switch(params.thinking, id="settings-thinking", disabled=not self.reasoning)
            yield Label(
                _on_off(params.thinking), id="settings-thinking-state", classes="switch-state"
            )
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
            yield Label(_on_off(params.memory), id="settings-memory-state", classes="switch-state")
        if not self.reasoning:
            yield Label(
                Content("This model does not reason: the thinking settings change nothing."),
                classes="settings-note",
            )
        yield Label("", id="settings-problem", classes="settings-problem")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self._save(switch_model=event.button.id == "model")

    def action_save(self) -> None:
        self._save(switch_model=False)

    @on(Select.Changed, "#settings-preset")
    def _preset_chosen(self, event: Select.Changed) -> None:
        values = self.presets.get(str(event.value)) if event.value != Select.BLANK else None
        if not values:
            return
        if "system_prompt" in values:
            self.query_one("#settings-system", TextArea).text = values["system_prompt"]
        for key, selector in (
            ("temperature", "#settings-temperature"),
            ("top_p", "#settings-top-p"),
            ("max_tokens", "#settings-max-tokens"),
            ("think_budget", "#settings-think-budget"),
        ):
            if key in values:
                self.query_one(selector, Input).value = _text(values[key])
        if "thinking" in values:
            self.query_one("#settings-thinking", Switch).value = bool(values["thinking"])
        self.query_one("#settings-problem", Label).update(
            plain(f"Filled in from {event.value}: Save keeps it for this chat.")
        )

    @on(Switch.Changed)
    def _switched(self, event: Switch.Changed) -> None:
        """Each switch says its state in words, not by colour alone."""
        state = self.query(f"#{event.switch.id}-state")
        if state:
            state.first(Label).update(_on_off(event.value))

    @on(Input.Submitted)
    def _enter_saves(self) -> None:
        """Enter in any field saves, as in most dialogs."""
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


def _on_off(value: bool) -> Content:
    return Content("on" if value else "off")


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
