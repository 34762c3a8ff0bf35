"""Provides `ChatSession`: one conversation's history, its prompts, its replies and their saving."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams, Message, MessageStatus
from r1chat.engine.base import Engine
from r1chat.engine.events import AnswerDelta, EngineEvent, Finished, GenerationStats, ReasoningDelta
from r1chat.errors import R1ChatError, StoreError
from r1chat.store.chats import ChatStore

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

    @classmethod
    def resume(
        cls, engine: Engine, store: ChatStore, conversation_id: str, **options: object
    ) -> ChatSession:
        """Continue a saved conversation from its newest message."""
        conversation = store.conversation(conversation_id)
        session = cls(engine, store=store, conversation_id=conversation.id, **options)  # type: ignore[arg-type]
        session.load_branch(list(conversation.messages))
        return session

    def load_branch(self, branch: list[Message]) -> None:
        """Make `branch` (saved messages, oldest first) the history."""
        self.messages = [message.as_chat() for message in branch]
        self.message_ids = [message.id for message in branch]
        self.parent_id = branch[-1].id if branch else None

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
        self.message_ids.append(None)
        recorder = _Recorder(self, text) if self.store is not None else None
        return self._collect(events, recorder)

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
        events = self.engine.stream(request, cancel)
        self.messages.pop()
        self.message_ids.pop()
        user_id = self.message_ids[-1]
        recorder = None
        if self.store is not None:
            recorder = _Recorder(self, self.messages[-1].content, existing_user_id=user_id)
        return self._collect(events, recorder)

    def edit_last(self, text: str, cancel: threading.Event | None = None) -> Iterator[EngineEvent]:
        """Replace the last user turn with `text` and answer it (the old turn stays saved)."""
        index = max((i for i, m in enumerate(self.messages) if m.role == "user"), default=None)
        if index is None:
            raise R1ChatError("There is no message to edit yet.")
        kept, kept_ids = self.messages[:index], self.message_ids[:index]
        if not text.strip():
            raise R1ChatError("The prompt is empty; type a question or pipe some text in.")
        request = ChatRequest((*kept, ChatMessage("user", text)), self.params, self.system_prompt)
        events = self.engine.stream(request, cancel)
        self.messages, self.message_ids = kept, kept_ids
        self.parent_id = kept_ids[-1] if kept_ids else None
        self.messages.append(ChatMessage("user", text))
        self.message_ids.append(None)
        recorder = _Recorder(self, text) if self.store is not None else None
        return self._collect(events, recorder)

    def _collect(
        self, events: Iterator[EngineEvent], recorder: _Recorder | None
    ) -> Iterator[EngineEvent]:
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
                if recorder is not None and not isinstance(event, Finished):
                    recorder.streaming(answer, reasoning)
                yield event
        finally:
            reply.answer, reply.reasoning = "".join(answer), "".join(reasoning)
            self.messages.append(ChatMessage("assistant", reply.answer, reply.reasoning))
            self.message_ids.append(None)
            if recorder is not None:
                recorder.finished(reply)
                self.message_ids[-2] = recorder.user_id
                self.message_ids[-1] = recorder.reply_id


class _Recorder:
    """Writes one exchange (user turn and reply) to the store as it happens."""

    def __init__(
        self, session: ChatSession, text: str, existing_user_id: str | None = None
    ) -> None:
        self.session = session
        self.store = session.store
        self.text = text
        self.user_id: str | None = existing_user_id
        self.reply_id: str | None = None
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
            params = {
                key: value
                for key, value in (
                    ("temperature", session.params.temperature),
                    ("top_p", session.params.top_p),
                    ("max_tokens", session.params.max_tokens),
                    ("seed", session.params.seed),
                    ("system_prompt", session.system_prompt or None),
                )
                if value is not None
            }
            conversation = self.store.create_conversation(model=self.info.model_name, params=params)
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
        self._save(lambda: self._write("".join(answer), "".join(reasoning), "streaming", None))

    def finished(self, reply: Reply) -> None:
        """Write the reply's final text, status and statistics."""
        stats = reply.stats
        status: MessageStatus = FINISH_STATUS[stats.finish_reason] if stats else "cancelled"
        data = stats.to_dict() if stats else None
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
