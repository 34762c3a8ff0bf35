"""Provides `ContextMeter`: the next prompt sized a moment after typing pauses."""

from __future__ import annotations

from textual import on, work
from textual.widgets import TextArea

from r1chat.core.service import ChatSession
from r1chat.errors import R1ChatError
from r1chat.ui.screens.chat_base import (
    MEASURE_DELAY,
    ChatScreenBase,
)
from r1chat.ui.widgets.composer import Composer


class ContextMeter(ChatScreenBase):
    """The context meter: the next prompt sized a moment after typing pauses."""

    @work(thread=True, group="count-draft", exit_on_error=False, description="count the draft")
    def action_count_draft(self) -> None:
        """Say how many tokens the draft in the message box is, and its share of the window."""
        engine = self.engine
        if engine is None:
            self.notify("No model yet: the draft is counted by the model's own tokenizer.")
            return
        draft = self.app.call_from_thread(lambda: self.composer.text)
        count = engine.count_tokens(draft)
        n_ctx = engine.info.n_ctx
        about = "about " if engine.info.backend == "remote" else ""  # no tokenizer there
        self.notify(
            f"Your draft: {about}{count:,} token{'s' if count != 1 else ''}, "
            f"{count * 100 / n_ctx:.1f}% of the {n_ctx:,}-token window."
        )

    @on(TextArea.Changed, "#composer")
    def _draft_changed(self) -> None:
        self.measure_soon()

    def measure_soon(self, delay: float = MEASURE_DELAY) -> None:
        """Size the next prompt (history and draft) once typing pauses."""
        if self._measure_timer is not None:
            self._measure_timer.stop()
        self._measure_timer = self.set_timer(max(delay, 0.01), self._measure)

    def _measure(self) -> None:
        if self.generating or self.engine is None:
            return
        composers = self.query(Composer)
        if not composers:  # the screen is closing: nothing to size
            return
        self._measure_worker(self.session, composers.first().text)

    @work(
        thread=True,
        exclusive=True,
        group="measure",
        exit_on_error=False,
        description="measure the next prompt",
    )
    def _measure_worker(self, session: ChatSession, draft: str) -> None:
        try:
            plan = self.service.plan(session, draft)
        except R1ChatError as error:
            self.app.call_from_thread(self.status.show_overflow, str(error))
            return
        if plan is not None:
            draft_tokens = session.engine.count_tokens(draft) if session.engine else 0
            self.app.call_from_thread(self.status.show_plan, plan, draft_tokens)
            used, tokens = session.memory_used, session.memory_tokens
            wanted = len(session.memory) if session.params.memory else 0
            self.app.call_from_thread(self._show_memory, used, wanted, tokens)

    def _show_memory(self, used: int, wanted: int, tokens: int) -> None:
        self.status.memory = (used, wanted, tokens)
        if used < wanted and self._memory_warned != (used, wanted):
            left = wanted - used
            self.notify(
                f"{left} memory fact{'s' if left != 1 else ''} left out of the next prompt so "
                "the chat's history still fits (the oldest go first).",
                severity="warning",
                timeout=6,
            )
        self._memory_warned = (used, wanted)

    async def memory_changed(self) -> None:
        """The facts changed (here or on the memory screen): the next prompt uses them."""
        self.session.memory = await self._io(self.service.memory_facts)
        self.measure_soon(0)
