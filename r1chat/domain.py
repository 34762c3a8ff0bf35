"""Provides the plain data types shared by the engine, the session and (later) the store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


REMOTE_PREFIX = "remote:"
"""How a chat records a model served by a configured `[remotes.NAME]`."""


def is_remote_record(model: object) -> bool:
    """Whether a chat's recorded model is a server (`remote:NAME` or an http(s) URL, the
    scheme in any case: `HTTP://` is a server, not a file name) rather than a file."""
    text = str(model or "")
    return text.startswith(REMOTE_PREFIX) or text.lower().startswith(("http://", "https://"))


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
    think_budget: int | None = None
    """Most reasoning tokens before the model is made to answer (`None`: no limit)."""
    thinking: bool = True
    """`False` asks a reasoning model to answer at once, without thinking."""
    memory: bool = True
    """Whether the memory facts go into this chat's prompt."""

    def normalized(self) -> GenerationParams:
        """These settings as a reply uses them, from a chat's record: a think budget of 0
        (recorded so that "no limit" outlasts a budget set in config) is no limit."""
        return replace(
            self,
            think_budget=self.think_budget or None,
            thinking=bool(self.thinking),
            memory=bool(self.memory),
        )

    def recorded(self) -> dict[str, Any]:
        """The sampling a chat records (`think_budget` 0: no limit, see `normalized`)."""
        return {**asdict(self), "think_budget": self.think_budget or 0}


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What an engine needs to produce one reply."""

    messages: tuple[ChatMessage, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    system_prompt: str = ""
    continue_reasoning: str | None = None
    """Reasoning of a reply that stopped while thinking: the reply goes on from its end."""


def lacks_answer(answer: str, reasoning: str, had_reasoning: bool, stopped: bool = False) -> bool:
    """Whether a reply reasoned (or opened its reasoning) but never gave an answer.

    A reply the user `stopped` before any reasoning text came is only stopped.
    """
    if answer.strip():
        return False
    return bool(reasoning.strip()) or (had_reasoning and not stopped)


NO_ANSWER_NOTE = "no answer: reasoning cut off"
"""How `show` and exports mark a reply whose reasoning never reached an answer."""

MessageStatus = Literal["streaming", "complete", "cancelled", "interrupted", "error"]
MESSAGE_STATUSES: tuple[MessageStatus, ...] = (
    "streaming",
    "complete",
    "cancelled",
    "interrupted",
    "error",
)


@dataclass(frozen=True, slots=True)
class Message:
    """A message as saved: one turn plus where it sits and how it ended."""

    id: str
    conversation_id: str
    role: Role
    content: str
    """The user's text, or the assistant's answer."""
    reasoning: str = ""
    status: MessageStatus = "complete"
    parent_id: str | None = None
    """The message this one answers or follows; siblings are alternative versions."""
    model: str | None = None
    stats: dict[str, Any] | None = None
    """Token counts, time to first token, reasoning seconds, tokens/s (as JSON)."""
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def no_answer(self) -> bool:
        """A reply that has reasoning but no answer: the model stopped while thinking."""
        if self.role != "assistant" or self.status == "streaming":
            return False
        had = bool((self.stats or {}).get("had_reasoning"))
        return lacks_answer(self.content, self.reasoning, had, self.status == "cancelled")

    def as_chat(self) -> ChatMessage:
        """The turn as the engine sees it (reasoning kept aside; prompt rules drop it)."""
        return ChatMessage(self.role, self.content, self.reasoning)


@dataclass(frozen=True, slots=True)
class Conversation:
    """A saved chat: its title, model and settings, and (when loaded) its messages."""

    id: str
    title: str
    created_at: float
    updated_at: float
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    message_count: int = 0
    messages: tuple[Message, ...] = ()
    """The current branch, oldest first (empty when only the summary was loaded)."""
    leaf_id: str | None = None
    """The message the user last looked at: the current branch ends there."""

    @property
    def model_shown(self) -> str | None:
        """The model's name as every screen shows it: `NAME (remote)` when the chat runs on
        a server, so a chat that sends its text away never looks local."""
        if self.model and is_remote_record(self.params.get("model_path")):
            return f"{self.model} (remote)"
        return self.model
