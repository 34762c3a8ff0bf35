"""Provides the typed events an engine streams for one reply, and the reply's statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

FinishReason = Literal["stop", "length", "cancelled", "error"]
ReasoningCut = Literal["user", "budget"]
"""Why reasoning was ended early: the user asked for the answer, or the budget was spent."""


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A new piece of the model's reasoning (the text inside `<think>`)."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    """A new piece of the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class Progress:
    """The engine is reading the prompt: `done` of `total` prompt tokens are in the context."""

    done: int
    total: int


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """What the next prompt will take: its exact size, and the turns that no longer fit.

    Every stream starts with its prompt's plan.
    """

    tokens: int
    """Prompt tokens, after fitting."""
    n_ctx: int
    """The context window."""
    reserve: int
    """Tokens kept free for the reply."""
    dropped_messages: int = 0
    """Oldest messages left out so the prompt fits."""
    window_guessed: bool = False
    """The window is an assumption: the server did not say its context size."""

    @property
    def dropped_turns(self) -> int:
        """Left-out user turns (a turn is a question and its answer)."""
        return (self.dropped_messages + 1) // 2


@dataclass(frozen=True, slots=True)
class GenerationStats:
    """Measurements of one reply. Times are seconds; `None` where nothing was measured."""

    finish_reason: FinishReason
    prompt_tokens: int = 0
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    time_to_first_token: float | None = None
    """From the request to the first generated token (includes reading the prompt)."""
    reasoning_seconds: float | None = None
    """From the first reasoning token to the end of the reasoning."""
    generation_seconds: float | None = None
    """From the first generated token to the last one."""
    tokens_per_second: float | None = None
    """Generation speed after the first token."""
    prompt_tokens_per_second: float | None = None
    """Prefill speed: prompt tokens read per second (cached prefix excluded)."""
    server_tokens_per_second: float | None = None
    """A remote server's own generation speed, where it reports one (llama-server)."""
    dropped_messages: int = 0
    """Oldest messages left out so the prompt fits the context window."""
    prompt_tokens_read: int | None = None
    """Prompt tokens the model read for this reply (`None`: not known, e.g. some servers)."""
    prompt_tokens_cached: int | None = None
    """Prompt tokens that came from the cache (in memory, on disk, or the server's)."""
    threads: int | None = None
    """CPU threads llama.cpp ran with at the reply's end (local models)."""
    draft_tokens: int = 0
    """Tokens prompt lookup drafted from the conversation (see `engine.lookup`)."""
    draft_tokens_accepted: int = 0
    """Drafted tokens the model kept: each one a step saved."""
    had_reasoning: bool = False
    """The reply had a reasoning block, even an empty one."""
    reasoning_open: bool = False
    """The reply ended inside its reasoning: `</think>` never came, so there is no answer."""
    reasoning_cut: ReasoningCut | None = None
    """Reasoning was ended early and the model answered from it (see `ReplyControl`)."""
    thinking_off: bool = False
    """The reply was asked to answer without reasoning."""
    error: str | None = None

    @property
    def completion_tokens(self) -> int:
        """All generated tokens, reasoning and answer."""
        return self.reasoning_tokens + self.answer_tokens

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["completion_tokens"] = self.completion_tokens
        return data


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of every stream, whatever ended it."""

    stats: GenerationStats


EngineEvent = ReasoningDelta | AnswerDelta | PromptPlan | Progress | Finished
