"""Provides `ChatOptionsActions`: a chat's own settings (F2) and how thinking is shown."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual import work

from r1chat.config import budget_problem
from r1chat.core.prices import money
from r1chat.errors import R1ChatError
from r1chat.ui.screens.chat_base import (
    ChatScreenBase,
)
from r1chat.ui.widgets.reasoning import THINKING_MODES, ThinkingMode

if TYPE_CHECKING:
    from r1chat.ui.screens.settings import ChatSettingsChoice


class ChatOptionsActions(ChatScreenBase):
    """A chat's own settings (F2), thinking on or off, and how thinking is shown."""

    def action_chat_settings(self) -> None:
        from r1chat.ui.screens.settings import ChatSettingsScreen

        if self.generating:
            self.notify(f"Stop the reply first ({self.key('chat.stop')}).", severity="warning")
            return
        info = self.engine.info if self.engine else None
        params = self.session.params
        temperature = params.temperature
        top_p = params.top_p
        if info is not None:
            temperature = info.default_temperature if temperature is None else temperature
            top_p = info.default_top_p if top_p is None else top_p
        screen = ChatSettingsScreen(
            model=info.model_name if info else "no model",
            system_prompt=self.session.system_prompt,
            params=replace(params, temperature=temperature, top_p=top_p),
            reasoning=info.reasoning if info else True,
            usage=self._usage_line,
            presets={
                name: self.service.settings.preset_values(name)
                for name in self.service.settings.sections.presets
            },
        )
        self.app.push_screen(screen, self._settings_chosen)

    def _usage_line(self) -> str:
        """This chat's tokens, thinking time and API-price equivalent (off the UI thread)."""
        conversation_id = self.session.conversation_id
        if conversation_id is None:
            return "This chat: nothing sent yet."
        try:
            usage, prices = self.service.chat_usage(conversation_id)
        except R1ChatError as error:
            return str(error)
        if not usage.replies:
            return "This chat: no replies counted yet."
        line = (
            f"This chat: {usage.replies:,} replies · {usage.read:,} tokens read · "
            f"{usage.reasoning:,} thinking · {usage.answer:,} answer · thought for "
            f"{usage.thinking_seconds:,.0f} s"
        )
        if prices:
            price = prices[0]
            line += (
                f" · {money(price.cost(usage.read, usage.written))} on {price.name} "
                f"({price.date} prices)"
            )
        return line

    def _settings_chosen(self, chosen: ChatSettingsChoice | None) -> None:
        if chosen is not None:
            self._apply_settings(chosen)

    @work(group="settings", exclusive=True, exit_on_error=False, description="apply chat settings")
    async def _apply_settings(self, chosen: ChatSettingsChoice, said: str = "") -> None:
        session = self.session
        await self._io(self.service.apply_settings, session, chosen.params, chosen.system_prompt)
        self.options = replace(
            self.options, params=chosen.params, system_prompt=chosen.system_prompt
        )
        saved = session.conversation_id is not None
        self.notify(
            said or ("Chat settings saved." if saved else "Settings set for this new chat.")
        )
        self.measure_soon(0)
        if chosen.switch_model:
            self.app.action_command_palette()

    def apply_preset(self, name: str) -> None:
        """Give this chat a `[presets.NAME]`: its system prompt and sampling (what the
        preset leaves out stays as it was)."""
        from r1chat.ui.screens.settings import ChatSettingsChoice

        if self.generating:
            self.notify(f"Stop the reply first ({self.key('chat.stop')}).", severity="warning")
            return
        settings = self.service.settings
        try:
            values = settings.preset_values(name)
        except R1ChatError as error:
            self.notify(str(error), severity="error")
            return
        system = values.pop("system_prompt", self.session.system_prompt)
        params = replace(self.session.params, **values)
        problem = budget_problem(params.think_budget, params.max_tokens)
        if problem:
            self.notify(f"Preset {name} cannot apply: {problem}.", severity="error")
            return
        summary = settings.sections.presets[name].summary()
        self._apply_settings(
            ChatSettingsChoice(params, system), said=f"Preset {name} for this chat: {summary}."
        )

    def action_toggle_think(self) -> None:
        """Thinking off (or on again) for this chat: R1 models answer at once."""
        if self.engine is not None and not self.engine.info.reasoning:
            self.notify(
                f"{self.engine.info.model_name} does not reason: there is no thinking to turn "
                "off or on.",
                severity="warning",
            )
            return
        if self.generating:
            self.notify(f"Stop the reply first ({self.key('chat.stop')}).", severity="warning")
            return
        from r1chat.ui.screens.settings import ChatSettingsChoice

        params = replace(self.session.params, thinking=not self.session.params.thinking)
        self._apply_settings(ChatSettingsChoice(params, self.session.system_prompt))
        self.notify(
            "Thinking is on for this chat."
            if params.thinking
            else "Thinking is off for this chat: the model answers at once."
        )

    def action_cycle_thinking(self) -> None:
        index = THINKING_MODES.index(self.thinking_mode)
        self.set_thinking_mode(THINKING_MODES[(index + 1) % len(THINKING_MODES)])

    def set_thinking_mode(self, mode: ThinkingMode) -> None:
        """Apply a thinking mode to the whole conversation and remember it."""
        self.thinking_mode = mode
        self.conversation.apply_mode(mode)
        self.r1app.remember("thinking", mode)
        self.notify(f"Thinking: {mode}.", timeout=2)
