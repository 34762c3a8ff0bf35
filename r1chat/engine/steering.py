"""Provides what every engine shares about one reply: steering it and counting it.

A reply is steered through its cancel handle. Any `threading.Event` stops it when
set; a `ReplyControl` can also ask it to stop reasoning and answer from what it has
thought so far ("answer now"). A reasoning budget does the same by itself once the
reasoning reaches its number of tokens. The engine then closes the reasoning as the
model would have (`CLOSE_REASONING`, in the model's own tokens) and goes on sampling
the answer.

`ReplyTally` keeps one reply's counts and times, feeds its text through the
`<think>` splitter, and says when reasoning must end; the real and the scripted
engine both use it, so the engine behind the app tests counts as the real one does.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from r1chat.engine.events import FinishReason, GenerationStats, ReasoningCut
from r1chat.engine.think import CLOSE, OPEN, Delta, ThinkSplitter

CLOSE_REASONING = f"\n{CLOSE}\n\n"
"""What ends reasoning early: the text R1 models write themselves before answering."""
NO_REASONING = f"{OPEN}\n\n{CLOSE}\n\n"
"""An empty reasoning block: with it at the start of the reply, an R1 model answers at once."""


class ReplyControl(threading.Event):
    """The handle of a running reply: `set()` stops it, `answer_now()` makes it answer."""

    def __init__(self) -> None:
        super().__init__()
        self._answer = threading.Event()

    def answer_now(self) -> None:
        """End the reasoning here and answer from it (nothing happens once it answers)."""
        self._answer.set()

    @property
    def answer_requested(self) -> bool:
        """Whether `answer_now` was called."""
        return self._answer.is_set()


class ReplyTally:
    """One reply's tokens and times, its text split into reasoning and answer, and its cut."""

    def __init__(
        self,
        cancel: threading.Event,
        *,
        starts_in_reasoning: bool,
        continuing: bool = False,
        think_budget: int | None = None,
        thinking_off: bool = False,
    ) -> None:
        self.cancel = cancel
        self.splitter = ThinkSplitter(starts_in_reasoning, continuing=continuing)
        self.think_budget = think_budget
        self.thinking_off = thinking_off
        self.started = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.reasoning_start: float | None = None
        self.reasoning_end: float | None = None
        self.reasoning_tokens = 0
        self.answer_tokens = 0
        self.reasoning_cut: ReasoningCut | None = None

    @property
    def generated(self) -> int:
        """Tokens generated so far, reasoning and answer."""
        return self.reasoning_tokens + self.answer_tokens

    def token(self, text: str) -> list[Delta]:
        """Count one generated token (its text may be empty: part of a character)."""
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        thinking = self.splitter.in_reasoning
        if thinking:
            self.reasoning_tokens += 1
            if self.reasoning_start is None:
                self.reasoning_start = now
        else:
            self.answer_tokens += 1
        deltas = self.splitter.feed(text) if text else []
        if thinking and not self.splitter.in_reasoning:
            self.reasoning_end = now
        self.last = now
        return deltas

    def cut_due(self) -> ReasoningCut | None:
        """Whether the reasoning must end now: the user asked, or the budget is spent."""
        if self.reasoning_cut is not None or not self.splitter.in_reasoning:
            return None
        if isinstance(self.cancel, ReplyControl) and self.cancel.answer_requested:
            return "user"
        if self.think_budget and self.reasoning_tokens >= self.think_budget:
            return "budget"
        return None

    def cut(self, reason: ReasoningCut, pending: str = "") -> list[Delta]:
        """End the reasoning (after `pending`, text held back mid-character) and answer."""
        self.reasoning_cut = reason
        self.reasoning_end = time.perf_counter()
        return self.splitter.feed(pending + CLOSE_REASONING)

    def finish(self, tail: str = "") -> list[Delta]:
        """The last text, and whatever the splitter held back."""
        deltas = self.splitter.feed(tail) if tail else []
        return deltas + self.splitter.finish()

    def stats(
        self, finish: FinishReason, error: str | None = None, **known: Any
    ) -> GenerationStats:
        """The reply's statistics; `known` adds what only the engine measured."""
        first, last = self.first, self.last
        measured: dict[str, Any] = {}
        if first is not None:
            measured["time_to_first_token"] = first - self.started
        if first is not None and last is not None and last > first:
            measured["generation_seconds"] = last - first
            measured["tokens_per_second"] = (self.generated - 1) / (last - first)
        if self.reasoning_start is not None:
            end = self.reasoning_end or last or self.reasoning_start
            measured["reasoning_seconds"] = end - self.reasoning_start
        return GenerationStats(
            finish,
            reasoning_tokens=self.reasoning_tokens,
            answer_tokens=self.answer_tokens,
            had_reasoning=self.splitter.had_reasoning,
            reasoning_open=self.splitter.in_reasoning,
            reasoning_cut=self.reasoning_cut,
            thinking_off=self.thinking_off,
            error=error,
            **measured,
            **known,
        )
