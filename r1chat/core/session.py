"""Provides `ChatSession`: one conversation's history, its prompts, its replies and their saving."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

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
from r1chat.errors import R1ChatError, ReplyRefused, StoreError
from r1chat.store.chats import ChatStore, writer_tag
from r1chat.store.memory import memory_prompt

FLUSH_SECONDS = 0.25
"""A streaming reply is written to the store at least this often (a killed process loses less)."""

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


def chat_settings(engine: Engine, params: GenerationParams, system_prompt: str) -> dict[str, Any]:
    """What a conversation records of its model and sampling, as used (defaults resolved)."""
    info = engine.info
    record: dict[str, Any] = {
        "model_path": info.model_path,
        "model_name": info.model_name,
        "n_ctx": info.n_ctx,
        "temperature": (
            info.default_temperature if params.temperature is None else params.temperature
        ),
        "top_p": info.default_top_p if params.top_p is None else params.top_p,
        "max_tokens": params.max_tokens,
        "seed": params.seed,
        "think_budget": params.think_budget or 0,  # recorded, so "none" outlasts config
        "thinking": params.thinking,
        "memory": params.memory,
        "system_prompt": system_prompt or None,
    }
    try:
        stat = os.stat(info.model_path)
    except OSError:
        pass
    else:
        record["model_size"] = stat.st_size
        record["model_mtime"] = stat.st_mtime
    return record


def record_chat_settings(
    store: ChatStore,
    conversation_id: str,
    engine: Engine,
    params: GenerationParams,
    system_prompt: str,
) -> None:
    """Save the model and sampling a conversation now runs with as its own."""
    record = chat_settings(engine, params, system_prompt)
    store.update_conversation(
        conversation_id,
        model=engine.info.model_name,
        params={key: value for key, value in record.items() if value is not None},
    )


@dataclass
class ChatSession:
    """A conversation with one engine; the CLI and the TUI both talk through it.

    With a store, the conversation is saved as it happens: the user turn before the
    reply starts, the reply while it streams (status `streaming`, rewritten at
    least every `FLUSH_SECONDS`), then its final status and statistics. A failed
    save never stops the reply: it is reported through `on_save_error` and tried
    again at the next flush.

    Earlier reasoning is kept in `messages` for display but never sent back to the
    model (the engine's prompt rules strip it).
    """

    engine: Engine
    params: GenerationParams = field(default_factory=GenerationParams)
    system_prompt: str = ""
    messages: list[ChatMessage] = field(default_factory=list)
    store: ChatStore | None = None
    conversation_id: str | None = None
    """The saved conversation; created with the first reply when there is a store."""
    parent_id: str | None = None
    """The saved message the next user turn follows."""
    message_ids: list[str | None] = field(default_factory=list)
    """The saved id of each entry in `messages` (`None` while unsaved)."""
    on_save_error: Callable[[str], None] | None = None
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

    @classmethod
    def resume(
        cls, engine: Engine, store: ChatStore, conversation_id: str, **options: object
    ) -> ChatSession:
        """Continue a saved conversation from its newest message."""
        conversation = store.conversation(conversation_id)
        session = cls(engine, store=store, conversation_id=conversation.id, **options)  # type: ignore[arg-type]
        branch = list(conversation.messages)
        # Another process is still writing the newest reply (two `ask -c` at once): this
        # turn goes beside that one, as a version, not after a reply nobody has read.
        if (
            len(branch) >= 2
            and branch[-1].role == "assistant"
            and branch[-1].status == "streaming"
            and branch[-2].role == "user"
        ):
            branch = branch[:-2]
        session.load_branch(branch)
        return session

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
        return self.engine.plan(self.with_memory(self.request(draft)))

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
        bare = self.engine.plan(request)
        for keep in range(len(facts), 0, -1):
            kept = facts[len(facts) - keep :]
            system = "\n\n".join(p for p in (memory_prompt(kept), request.system_prompt) if p)
            candidate = replace(request, system_prompt=system)
            try:
                planned = self.engine.plan(candidate)
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
        recorder = _Recorder(self, text) if self.store is not None else None
        return self._collect(events, recorder)

    def _start(self, request: ChatRequest, cancel: threading.Event | None) -> Iterator[EngineEvent]:
        self.last_plan = None
        return self.engine.stream(self.with_memory(request), cancel)

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
        user_id = self.message_ids[-1]
        recorder = None
        if self.store is not None:
            recorder = _Recorder(self, self.messages[-1].content, existing_user_id=user_id)
        return self._collect(events, recorder)

    def edit_last(self, text: str, cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Send `text` in place of the last user turn and answer it.

        The edited turn is a sibling of the original (same parent): both stay saved
        as versions, and the new one's branch becomes the conversation's current one.
        """
        index = self.last_user_index()
        if index is None:
            raise R1ChatError("There is no message to edit yet.")
        kept, kept_ids = self.messages[:index], self.message_ids[:index]
        if not text.strip():
            raise ReplyRefused("empty", "The message is empty.")
        request = ChatRequest((*kept, ChatMessage("user", text)), self.params, self.system_prompt)
        events = self._start(request, cancel)
        self.messages, self.message_ids = kept, kept_ids
        self.parent_id = kept_ids[-1] if kept_ids else None
        self.messages.append(request.messages[-1])
        self.message_ids.append(None)
        recorder = _Recorder(self, text) if self.store is not None else None
        return self._collect(events, recorder)

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
        recorder = None
        if self.store is not None:
            recorder = _Recorder(
                self, self.messages[-1].content, self.message_ids[-1], existing_reply_id=reply_id
            )
        return self._collect(events, recorder, earlier=(last.reasoning, self.last_stats))

    def _collect(
        self,
        events: Iterator[EngineEvent],
        recorder: _Recorder | None,
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
                if recorder is not None and not isinstance(event, Finished):
                    recorder.streaming(answer, reasoning)
                yield event
        finally:
            reply.answer, reply.reasoning = "".join(answer), "".join(reasoning)
            self.messages.append(ChatMessage("assistant", reply.answer, reply.reasoning))
            self.message_ids.append(None)
            self.last_stats = reply.stats.to_dict() if reply.stats else None
            if recorder is not None:
                recorder.finished(reply)
                self.message_ids[-2] = recorder.user_id
                self.message_ids[-1] = recorder.reply_id


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


class _Recorder:
    """Writes one exchange (user turn and reply) to the store as it happens."""

    def __init__(
        self,
        session: ChatSession,
        text: str,
        existing_user_id: str | None = None,
        existing_reply_id: str | None = None,
    ) -> None:
        self.session = session
        self.store = session.store
        self.text = text
        self.user_id: str | None = existing_user_id
        self.reply_id: str | None = existing_reply_id
        self.last_flush = 0.0
        self.failing = False
        self.info = session.engine.info
        self._save(self._ensure_user)

    def _save(self, action: Callable[[], None]) -> bool:
        try:
            action()
        except StoreError as error:
            if not self.failing and self.session.on_save_error is not None:
                self.session.on_save_error(str(error))
            self.failing = True
            return False
        self.failing = False
        return True

    def _ensure_user(self) -> None:
        assert self.store is not None
        session = self.session
        if session.conversation_id is None:
            record = chat_settings(session.engine, session.params, session.system_prompt)
            conversation = self.store.create_conversation(
                model=self.info.model_name,
                params={key: value for key, value in record.items() if value is not None},
            )
            session.conversation_id = conversation.id
        if self.user_id is None:
            message = self.store.add_message(
                session.conversation_id, "user", self.text, parent_id=session.parent_id
            )
            self.user_id = session.parent_id = message.id

    def streaming(self, answer: list[str], reasoning: list[str]) -> None:
        """Called on every delta: write the reply if it is new or the last write is old."""
        now = time.monotonic()
        if self.reply_id is not None and now - self.last_flush < FLUSH_SECONDS:
            return
        self.last_flush = now
        writer: dict[str, object] = {"writer": writer_tag()}  # other processes leave it alone
        self._save(lambda: self._write("".join(answer), "".join(reasoning), "streaming", writer))

    def finished(self, reply: Reply) -> None:
        """Write the reply's final text, status and statistics."""
        stats = reply.stats
        status: MessageStatus = FINISH_STATUS[stats.finish_reason] if stats else "cancelled"
        if status == "error" and (reply.answer.strip() or reply.reasoning.strip()):
            status = "interrupted"  # a failure cut it short: what came is kept as such
        data = stats.to_dict() if stats else None
        if data is not None:
            data["no_answer"] = reply.no_answer
        if self._save(lambda: self._write(reply.answer, reply.reasoning, status, data)):
            reply.message_id = self.reply_id
            self.session.parent_id = self.reply_id

    def _write(
        self, answer: str, reasoning: str, status: MessageStatus, stats: dict[str, object] | None
    ) -> None:
        assert self.store is not None
        self._ensure_user()
        assert self.session.conversation_id is not None
        if self.reply_id is None:
            message = self.store.add_message(
                self.session.conversation_id,
                "assistant",
                answer,
                reasoning=reasoning,
                status=status,
                parent_id=self.user_id,
                model=self.info.model_name,
                stats=stats,
            )
            self.reply_id = message.id
        else:
            self.store.update_message(
                self.reply_id, content=answer, reasoning=reasoning, status=status, stats=stats
            )
