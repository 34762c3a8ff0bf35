"""Provides `ChatSession`: one conversation's history, its prompts and its replies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.base import Engine
from r1chat.engine.events import AnswerDelta, EngineEvent, Finished, GenerationStats, ReasoningDelta
from r1chat.errors import R1ChatError


@dataclass
class Reply:
    """The assistant's reply as it grows, and its statistics once it ends."""

    answer: str = ""
    reasoning: str = ""
    stats: GenerationStats | None = None


@dataclass
class ChatSession:
    """A conversation with one engine; the CLI and the TUI both talk through it.

    Earlier reasoning is kept in `messages` for display but never sent back to the
    model (the engine's prompt rules strip it).
    """

    engine: Engine
    params: GenerationParams = field(default_factory=GenerationParams)
    system_prompt: str = ""
    messages: list[ChatMessage] = field(default_factory=list)
    last_reply: Reply | None = field(default=None, init=False)
    """The most recent reply (answer, reasoning and stats)."""

    def reply(self, text: str, cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Send `text` as the next user turn and stream the reply.

        The user turn and the (possibly partial) reply join the history when the
        stream ends, whatever ended it.
        """
        if not text.strip():
            raise R1ChatError("The prompt is empty; type a question or pipe some text in.")
        user = ChatMessage("user", text)
        request = ChatRequest((*self.messages, user), self.params, self.system_prompt)
        events = self.engine.stream(request, cancel)  # raises before anything is added
        self.messages.append(user)
        return self._collect(events)

    def _collect(self, events: Iterator[EngineEvent]) -> Iterator[EngineEvent]:
        reply = self.last_reply = Reply()
        answer: list[str] = []
        reasoning: list[str] = []
        try:
            for event in events:
                if isinstance(event, AnswerDelta):
                    answer.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    reasoning.append(event.text)
                elif isinstance(event, Finished):
                    reply.stats = event.stats
                yield event
        finally:
            reply.answer, reply.reasoning = "".join(answer), "".join(reasoning)
            self.messages.append(ChatMessage("assistant", reply.answer, reply.reasoning))
