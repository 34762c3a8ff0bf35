"""Provides the core's saving of conversations: the observer that writes each reply to the
store as it streams, the settings a chat records, and resuming a saved chat."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from r1chat.core.session import FINISH_STATUS, ChatSession, ObserverFactory, Reply
from r1chat.domain import GenerationParams, MessageStatus
from r1chat.engine.base import Engine
from r1chat.errors import StoreError
from r1chat.store.chats import ChatStore, writer_tag

FLUSH_SECONDS = 0.25
"""A streaming reply is written to the store at least this often (a killed process loses less)."""


def saving_to(
    store: ChatStore, on_save_error: Callable[[str], None] | None = None
) -> ObserverFactory:
    """The observer factory that saves a session's replies in `store`."""

    def observe(
        session: ChatSession, text: str, user_id: str | None, reply_id: str | None
    ) -> StoreRecorder:
        return StoreRecorder(store, on_save_error, session, text, user_id, reply_id)

    return observe


def resumed(
    engine: Engine,
    store: ChatStore,
    conversation_id: str,
    on_save_error: Callable[[str], None] | None = None,
    **options: Any,
) -> ChatSession:
    """A session that continues a saved conversation from its newest message, saving to
    `store`."""
    conversation = store.conversation(conversation_id)
    session = ChatSession(
        engine,
        observe=saving_to(store, on_save_error),
        conversation_id=conversation.id,
        **options,
    )
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


def chat_settings(engine: Engine, params: GenerationParams, system_prompt: str) -> dict[str, Any]:
    """What a conversation records of its model and sampling, as used (defaults resolved)."""
    info = engine.info
    record: dict[str, Any] = {
        "model_path": info.model_path,
        "model_name": info.model_name,
        "n_ctx": info.n_ctx,
        **params.recorded(),
        "system_prompt": system_prompt or None,
    }
    if params.temperature is None:
        record["temperature"] = info.default_temperature
    if params.top_p is None:
        record["top_p"] = info.default_top_p
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


class StoreRecorder:
    """Writes one exchange (user turn and reply) to the store as it happens: the user turn
    before the reply starts, the reply while it streams (status `streaming`, rewritten at
    least every `FLUSH_SECONDS`), then its final status and statistics. A failed save never
    stops the reply: it is reported through `on_save_error` and tried again at the next
    flush."""

    def __init__(
        self,
        store: ChatStore,
        on_save_error: Callable[[str], None] | None,
        session: ChatSession,
        text: str,
        existing_user_id: str | None = None,
        existing_reply_id: str | None = None,
    ) -> None:
        self.session = session
        self.store = store
        self.on_save_error = on_save_error
        self.text = text
        self.user_id: str | None = existing_user_id
        self.reply_id: str | None = existing_reply_id
        self.last_flush = 0.0
        self.failing = False
        assert session.engine is not None  # the reply has started on it
        self.engine = session.engine
        self.info = self.engine.info
        self._save(self._ensure_user)

    def _save(self, action: Callable[[], None]) -> bool:
        try:
            action()
        except StoreError as error:
            if not self.failing and self.on_save_error is not None:
                self.on_save_error(str(error))
            self.failing = True
            return False
        self.failing = False
        return True

    def _ensure_user(self) -> None:
        session = self.session
        if session.conversation_id is None:
            record = chat_settings(self.engine, session.params, session.system_prompt)
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
