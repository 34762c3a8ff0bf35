"""Provides the plain data types shared by the engine, the session and (later) the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation.

    The answer and the model's reasoning are kept apart: the reasoning is shown and
    stored, but never sent back to the model in later turns.
    """

    role: Role
    content: str
    """What the user wrote, or the assistant's answer (without its reasoning)."""
    reasoning: str = ""
    """The assistant's `<think>` text, if any."""


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling settings for one reply; `None` means "use the model's default"."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int = -1


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What an engine needs to produce one reply."""

    messages: tuple[ChatMessage, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    system_prompt: str = ""
