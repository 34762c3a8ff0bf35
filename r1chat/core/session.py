"""Provides `ChatSession`: one conversation's history, its prompts and its replies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from r1chat.domain import (
    ChatMessage,
    ChatRequest,
    GenerationParams,
    Message,
    MessageStatus,
    lacks_answer,
)
from r1chat.engine.base import Engine
from r1chat.engine.events import (
    AnswerDelta,
    EngineEvent,
    Finished,
    GenerationStats,
    PromptPlan,
    ReasoningDelta,
)
from r1chat.errors import R1ChatError, ReplyRefused
from r1chat.store.memory import memory_prompt

FINISH_STATUS: dict[str, MessageStatus] = {
    "stop": "complete",
    "length": "complete",
    "cancelled": "cancelled",
    "error": "error",
}


@dataclass
class Reply:
    """The assistant's reply as it grows, and its statistics once it ends."""

    answer: str = ""
    reasoning: str = ""
    stats: GenerationStats | None = None
    message_id: str | None = None
    """Its id in the store, once saved."""

    @property
    def no_answer(self) -> bool:
        """The model stopped while reasoning: there is reasoning but no answer."""
        stats = self.stats
        had = stats is not None and stats.had_reasoning
        stopped = stats is None or stats.finish_reason == "cancelled"
        return lacks_answer(self.answer, self.reasoning, had, stopped)


class ReplyObserver(Protocol):
    """Follows one exchange (a user turn and its reply) as it happens; the core plugs one
    in to save replies (`r1chat.core.saving`), the session only calls it."""

    user_id: str | None
    """The user turn's saved id, once known."""
    reply_id: str | None
    """The reply's saved id, once known."""

    def streaming(self, answer: list[str], reasoning: list[str]) -> None:
        """Called on every delta with the reply so far."""

    def finished(self, reply: Reply) -> None:
        """Called once when the reply ends, whatever ended it."""


ObserverFactory = Callable[["ChatSession", str, str | None, str | None], ReplyObserver]
"""Makes the observer of one exchange: (session, user text, saved user id, saved reply id);
an id is given when the exchange reuses a saved message (regenerate, continue)."""


@dataclass(eq=False)
class ChatSession:
    """A conversation with one engine; the CLI and the TUI both talk through it.

    `observe` makes an observer for each exchange (the core's saving, see
    `r1chat.core.saving`); the session keeps the history and the saved ids it reports.

    Earlier reasoning is kept in `messages` for display but never sent back to the
    model (the engine's prompt rules strip it).
    """

    engine: Engine | None
    """The engine replies come from (`None` until a model has loaded: a reply is refused)."""
    params: GenerationParams = field(default_factory=GenerationParams)
    system_prompt: str = ""
    messages: list[ChatMessage] = field(default_factory=list)
    observe: ObserverFactory | None = None
    """Makes the observer of each exchange (`None`: nothing follows the replies)."""
    conversation_id: str | None = None
    """The saved conversation; set by the saving observer with the first reply."""
    parent_id: str | None = None
    """The saved message the next user turn follows."""
    message_ids: list[str | None] = field(default_factory=list)
    """The saved id of each entry in `messages` (`None` while unsaved)."""
    last_reply: Reply | None = field(default=None, init=False)
    """The most recent reply (answer, reasoning, stats and id)."""
    last_plan: PromptPlan | None = field(default=None, init=False)
    """How the most recent prompt was fitted (size, turns left out)."""
    last_stats: dict[str, Any] | None = field(default=None, init=False)
    """The saved statistics of the newest message in the history."""
    memory: list[str] = field(default_factory=list)
    """The memory facts switched on (oldest first); sent unless the chat turns memory off."""
    memory_used: int = field(default=0, init=False)
    """Facts in the most recent prompt (the oldest are left out first when it is too long)."""
    memory_tokens: int = field(default=0, init=False)
    """About how many tokens those facts took."""

    def load_branch(self, branch: list[Message]) -> None:
        """Make `branch` (saved messages, oldest first) the history."""
        self.messages = [message.as_chat() for message in branch]
        self.message_ids = [message.id for message in branch]
        self.parent_id = branch[-1].id if branch else None
        self.last_stats = branch[-1].stats if branch else None

    def request(self, text: str | None = None) -> ChatRequest:
        """The request for a reply to the history plus `text` (`None`: the history as is)."""
        messages = tuple(self.messages)
        if text is not None:
            messages = (*messages, ChatMessage("user", text))
        return ChatRequest(messages, self.params, self.system_prompt)

    def plan(self, draft: str = "") -> PromptPlan:
        """The next prompt's size if `draft` were sent now, and the turns it leaves out."""
        return self._running().plan(self.with_memory(self.request(draft)))

    def _running(self) -> Engine:
        if self.engine is None:
            raise ReplyRefused("no-model", "No model is loaded yet.")
        return self.engine

    def with_memory(self, request: ChatRequest) -> ChatRequest:
        """`request` with the memory facts ahead of its instructions (inside the first user
        turn for R1 models, a system message for others).

        Memory never costs the user's history: when the prompt would leave out more old
        turns with the facts than without them, the oldest facts go first, down to none.
        """
        facts = self.memory if self.params.memory else []
        self.memory_used = self.memory_tokens = 0
        if not facts:
            return request
        engine = self._running()
        bare = engine.plan(request)
        for keep in range(len(facts), 0, -1):
            kept = facts[len(facts) - keep :]
            system = "\n\n".join(p for p in (memory_prompt(kept), request.system_prompt) if p)
            candidate = replace(request, system_prompt=system)
            try:
                planned = engine.plan(candidate)
            except R1ChatError:  # too long even alone: try with fewer facts
                continue
            if planned.dropped_messages <= bare.dropped_messages:
                self.memory_used = keep
                self.memory_tokens = max(0, planned.tokens - bare.tokens)
                return candidate
        return request

    def reply(self, text: str, cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Send `text` as the next user turn and stream the reply.

        The user turn and the (possibly partial) reply join the history when the
        stream ends, whatever ended it. `last_plan` says how the prompt was fitted
        (and how many old messages it leaves out) before the first event.
        """
        if not text.strip():
            raise ReplyRefused("empty", "The message is empty.")
        request = self.request(text)
        events = self._start(request, cancel)  # raises before anything is added
        self.messages.append(request.messages[-1])
        self.message_ids.append(None)
        return self._collect(events, self._observer(text))

    def _observer(
        self, text: str, user_id: str | None = None, reply_id: str | None = None
    ) -> ReplyObserver | None:
        return self.observe(self, text, user_id, reply_id) if self.observe else None

    def _start(self, request: ChatRequest, cancel: threading.Event | None) -> Iterator[EngineEvent]:
        self.last_plan = None
        return self._running().stream(self.with_memory(request), cancel)

    def can_regenerate(self) -> bool:
        """Whether the history ends with a user turn and its reply."""
        return (
            len(self.messages) >= 2
            and self.messages[-1].role == "assistant"
            and (self.messages[-2].role == "user")
        )

    def regenerate(self, cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Answer the last user turn again; the old reply stays saved as another version."""
        if not self.can_regenerate():
            raise R1ChatError("There is no answer to regenerate yet.")
        history = self.messages[:-1]
        request = ChatRequest(tuple(history), self.params, self.system_prompt)
        events = self._start(request, cancel)
        self.messages.pop()
        self.message_ids.pop()
        observer = self._observer(self.messages[-1].content, self.message_ids[-1])
        return self._collect(events, observer)

    def edit_last(self, text: str, cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Send `text` in place of the last user turn and answer it (see `edit`)."""
        index = self.last_user_index()
        if index is None:
            raise R1ChatError("There is no message to edit yet.")
        return self.edit(index, text, cancel)

    def edit(
        self, index: int, text: str, cancel: threading.Event | None = None
    ) -> Iterator[EngineEvent]:
        """Send `text` in place of the user turn at `index` and answer it.

        The edited turn is a sibling of the original (same parent): both stay saved as
        versions, with everything that followed the original, and the new one's branch
        becomes the conversation's current one.
        """
        if not 0 <= index < len(self.messages) or self.messages[index].role != "user":
            raise R1ChatError("Only your own messages can be edited.")
        kept, kept_ids = self.messages[:index], self.message_ids[:index]
        if not text.strip():
            raise ReplyRefused("empty", "The message is empty.")
        request = ChatRequest((*kept, ChatMessage("user", text)), self.params, self.system_prompt)
        events = self._start(request, cancel)
        self.messages, self.message_ids = kept, kept_ids
        self.parent_id = kept_ids[-1] if kept_ids else None
        self.messages.append(request.messages[-1])
        self.message_ids.append(None)
        return self._collect(events, self._observer(text))

    def branch_from(self, index: int) -> None:
        """Go on from the reply at `index`: the next message follows it, as a sibling of
        what followed it before (which stays saved as another version)."""
        if not 0 <= index < len(self.messages) or self.messages[index].role != "assistant":
            raise R1ChatError("A new branch starts from a reply.")
        if self.message_ids[index] is None:
            raise R1ChatError("That reply is not saved, so nothing can branch from it.")
        del self.messages[index + 1 :], self.message_ids[index + 1 :]
        self.parent_id = self.message_ids[index]

    def last_user_index(self) -> int | None:
        """Where the last user turn is in the history."""
        return max((i for i, m in enumerate(self.messages) if m.role == "user"), default=None)

    def can_continue(self) -> bool:
        """Whether the history ends with a reply that stopped while reasoning."""
        if not self.can_regenerate():
            return False
        last = self.messages[-1]
        return bool(last.reasoning.strip()) and not last.content.strip()

    def continue_reply(self, cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Let a reply that stopped while reasoning think on, from where it stopped.

        A local engine finds the prompt and the reasoning so far in its cache, so
        nothing is read again. The reply's saved message grows in place.
        """
        if not self.can_continue():
            raise ReplyRefused("answered", "The last reply has an answer already.")
        last = self.messages[-1]
        request = ChatRequest(
            tuple(self.messages[:-1]),
            self.params,
            self.system_prompt,
            continue_reasoning=last.reasoning,
        )
        events = self._start(request, cancel)
        self.messages.pop()
        reply_id = self.message_ids.pop()
        observer = self._observer(self.messages[-1].content, self.message_ids[-1], reply_id)
        return self._collect(events, observer, earlier=(last.reasoning, self.last_stats))

    def _collect(
        self,
        events: Iterator[EngineEvent],
        observer: ReplyObserver | None,
        earlier: tuple[str, dict[str, Any] | None] | None = None,
    ) -> Iterator[EngineEvent]:
        reply = self.last_reply = Reply()
        answer: list[str] = []
        reasoning: list[str] = [earlier[0]] if earlier else []
        try:
            for event in events:
                if isinstance(event, AnswerDelta):
                    answer.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    reasoning.append(event.text)
                elif isinstance(event, Finished):
                    reply.stats = event.stats
                    if earlier is not None:
                        reply.stats = _continued_stats(earlier[1], event.stats)
                else:
                    if isinstance(event, PromptPlan):
                        self.last_plan = event
                    yield event  # the prompt's plan and progress: nothing to save
                    continue
                if observer is not None and not isinstance(event, Finished):
                    observer.streaming(answer, reasoning)
                yield event
        except Exception as error:  # the engine failed mid-reply: the reason is kept with it
            if reply.stats is None:
                why = str(error) if isinstance(error, R1ChatError) else type(error).__name__
                reply.stats = GenerationStats(finish_reason="error", error=why)
            raise
        finally:
            reply.answer, reply.reasoning = "".join(answer), "".join(reasoning)
            self.messages.append(ChatMessage("assistant", reply.answer, reply.reasoning))
            self.message_ids.append(None)
            self.last_stats = reply.stats.to_dict() if reply.stats else None
            if observer is not None:
                observer.finished(reply)
                self.message_ids[-2] = observer.user_id
                self.message_ids[-1] = observer.reply_id


def _continued_stats(before: dict[str, Any] | None, after: GenerationStats) -> GenerationStats:
    """One reply's statistics from its first part (as saved) and its continuation."""
    if not before:
        return after
    seconds = [before.get("reasoning_seconds"), after.reasoning_seconds]
    known = [value for value in seconds if value is not None]
    return replace(
        after,
        reasoning_tokens=int(before.get("reasoning_tokens") or 0) + after.reasoning_tokens,
        reasoning_seconds=sum(known) if known else None,
        had_reasoning=True,
    )
