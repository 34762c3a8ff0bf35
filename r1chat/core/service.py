"""Provides `ChatService`: what the faces (app and commands) ask of saved chats and models."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from r1chat.config import Settings
from r1chat.core.prices import Price as Price
from r1chat.core.prices import compared_prices
from r1chat.core.saving import record_chat_settings as record_chat_settings
from r1chat.core.saving import resumed, saving_to
from r1chat.core.session import FINISH_STATUS as FINISH_STATUS
from r1chat.core.session import ChatSession as ChatSession
from r1chat.core.session import Reply as Reply
from r1chat.domain import Conversation, GenerationParams, Message
from r1chat.engine.base import Engine
from r1chat.engine.events import PromptPlan
from r1chat.engine.remote import is_remote
from r1chat.errors import R1ChatError
from r1chat.paths import Paths
from r1chat.store.chats import ChatStore
from r1chat.store.memory import Fact as Fact
from r1chat.store.memory import Memory
from r1chat.store.search import SearchHit as SearchHit
from r1chat.store.search import search
from r1chat.store.usage import Usage as Usage
from r1chat.store.usage import UsageReport as UsageReport
from r1chat.store.usage import conversation_usage, natural_grouping, usage_report
from r1chat.text import one_line

EngineFactory = Callable[[str, int | None], Engine]
"""Loads a model file with a context size (`None`: the model's default)."""


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """How one conversation runs: its model, context size, sampling and system prompt."""

    model: str | None
    """Path of the model to run (`None`: none could be found)."""
    n_ctx: int | None
    params: GenerationParams
    system_prompt: str = ""
    notice: str | None = None
    """Something the user should be told (for example, the chat's model is gone)."""


def chat_options(
    record: Mapping[str, Any],
    settings: Settings,
    fallback_model: str | None,
    explicit: Mapping[str, Any] | None = None,
) -> ChatOptions:
    """The options to run a saved chat with: what it recorded, unless `explicit` says
    otherwise; settings fill what neither gives. A recorded model that is gone falls
    back to `fallback_model`, with a notice that names both."""
    explicit = {key: value for key, value in (explicit or {}).items() if value is not None}

    def pick(key: str, default: Any) -> Any:
        if key in explicit:
            return explicit[key]
        value = record.get(key)
        return default if value is None else value

    defaults = settings.generation
    chosen = {f.name: pick(f.name, getattr(defaults, f.name)) for f in fields(GenerationParams)}
    params = GenerationParams(**chosen).normalized()
    notice = None
    model = explicit.get("model")
    if model is None:
        recorded = record.get("model_path")
        if recorded and (is_remote(recorded) or Path(recorded).is_file()):
            model = recorded
        else:
            model = fallback_model
            if recorded:
                name = record.get("model_name") or Path(recorded).name
                instead = one_line(Path(fallback_model).stem) if fallback_model else "no model"
                notice = (
                    f"This chat's model, {name}, is no longer at {recorded}; "
                    f"using {instead} instead."
                )
    n_ctx = explicit.get(
        "n_ctx", record.get("n_ctx") if model == record.get("model_path") else None
    )
    return ChatOptions(
        model,
        n_ctx if n_ctx is not None else settings.n_ctx,
        params,
        pick("system_prompt", settings.system_prompt) or "",
        notice,
    )


def start_session(
    engine: Engine,
    options: ChatOptions,
    store: ChatStore | None,
    conversation_id: str | None = None,
    on_save_error: Callable[[str], None] | None = None,
) -> ChatSession:
    """A session for one reply or more from a face without the app's state (`ask`): the
    saved chat `conversation_id` continued from its newest message, or a new one; saved
    in `store` as it streams (`None`: not saved), with the store's memory facts."""
    memory = Memory(store).texts() if store is not None else []
    kwargs: dict[str, Any] = {
        "params": options.params,
        "system_prompt": options.system_prompt,
        "memory": memory,
    }
    if store is None:
        return ChatSession(engine, **kwargs)
    if conversation_id is not None:
        return resumed(engine, store, conversation_id, on_save_error, **kwargs)
    return ChatSession(engine, observe=saving_to(store, on_save_error), **kwargs)


@dataclass(frozen=True, slots=True)
class OpenedChat:
    """A conversation as the app shows it: its current branch and where versions exist."""

    conversation: Conversation
    branch: list[Message]
    versions: dict[str, tuple[int, int]]
    """Message id → (index, count) among its siblings, for messages that have versions."""


@dataclass(frozen=True)
class Branch:
    """One branch of a conversation, by its last message."""

    leaf_id: str
    question: str
    """The last user message on the branch."""
    created_at: float
    current: bool


class ChatService:
    """Owns the store, the running engine and the sessions; every face goes through it.

    The engine is the service's alone: loading a model switches every session it made.

    All methods block (SQLite, tokenizing, loading models): the app calls them from
    worker threads, never on its event loop. Failures a user can cause are `R1ChatError`.
    """

    def __init__(self, store: ChatStore, settings: Settings, load: EngineFactory) -> None:
        self.store = store
        self.settings = settings
        self._load = load
        self.engine: Engine | None = None
        self.model: str | None = None
        """Path of the model that `engine` runs (or is being loaded)."""
        self._engine_lock = threading.Lock()
        self._sessions: weakref.WeakSet[ChatSession] = weakref.WeakSet()
        """The sessions this service made: each runs on the running engine."""

    # Models

    def load_model(self, model: str, n_ctx: int | None = None) -> Engine:
        """Load `model` and make it the running engine; the old one is closed afterwards.

        The caller makes sure no reply is streaming from the old engine.
        """
        self.model = model  # also while loading, and after a failure: not tried again unasked
        engine = self._load(model, n_ctx if n_ctx is not None else self.settings.n_ctx)
        with self._engine_lock:
            old, self.engine = self.engine, engine
            for session in list(self._sessions):
                session.engine = engine
        if old is not None and old is not engine:
            old.close()
        return engine

    def on_store_restored(self, tell: Callable[[str], None]) -> None:
        """Have `tell` say it (one sentence) if the chats database is deleted while r1chat
        runs and written back from the open copy."""
        self.store.on_restored = tell

    @property
    def read_only(self) -> str | None:
        """Why the chats can only be read (a read-only folder, a full disk), if they can."""
        return getattr(self.store, "read_only_reason", None)

    def needs_load(self, options: ChatOptions) -> bool:
        """Whether running a chat with `options` needs another model (or context size)."""
        if options.model is None:
            return False
        if self.model is None:
            return True
        if Path(options.model).resolve() != Path(self.model).resolve():
            return True
        wanted_ctx = options.n_ctx
        return (
            self.engine is not None
            and wanted_ctx is not None
            and wanted_ctx != self.engine.info.n_ctx
        )

    def found_models(self, paths: Paths) -> list[tuple[str, str]]:
        """(name, path) of the models on this machine, the running one first."""
        from r1chat.models.discovery import found_models

        found = [(name, str(path)) for name, path in found_models(paths, self.settings, self.model)]
        return found + self.remote_models()

    def remote_models(self) -> list[tuple[str, str]]:
        """(name, record) of what the configured endpoints serve, and of the running remote's
        server; an endpoint that does not answer is listed by its configured model alone."""
        from r1chat.core.remotes import configured_remotes, endpoint_for
        from r1chat.engine.remote import Endpoint, list_models

        endpoints = list(configured_remotes(self.settings).values())
        if self.model and is_remote(self.model):
            running = endpoint_for(self.model, self.settings)
            if all(known.url != running.url for known in endpoints):
                endpoints.append(running)
        found: list[tuple[str, str]] = []
        for endpoint in endpoints:
            where = endpoint.name or endpoint.url
            try:
                served = [entry["id"] for entry in list_models(endpoint)]
            except R1ChatError:
                served = [endpoint.model] if endpoint.model else []
            for model in served:
                if endpoint.name and model == endpoint.model:
                    found.append((f"{model} (remote {where})", endpoint.record))
                else:
                    record = Endpoint(endpoint.url, model, name=None).record
                    found.append((f"{model} (remote {where})", record))
        return found

    def close(self) -> None:
        """Free the running model."""
        with self._engine_lock:
            engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()

    # Conversations

    def list_conversations(self, text: str = "", limit: int = 500) -> list[Conversation]:
        """Saved conversations, newest first: all of them, or those whose title contains
        `text` or whose messages match it (full text, the last word as typed so far)."""
        found = self.store.list_conversations(limit=limit, title=text)
        if not text.strip():
            return found
        known = {conversation.id for conversation in found}
        try:
            hits = search(self.store, text, limit=200, prefix=True)
        except R1ChatError:
            hits = []
        for hit in hits:
            if hit.conversation_id not in known:
                known.add(hit.conversation_id)
                found.append(self.store.conversation(hit.conversation_id, messages=False))
        found.sort(key=lambda c: (c.updated_at, c.id), reverse=True)
        return found[:limit]

    def search(self, query: str, thinking: bool = False, limit: int = 50) -> list[SearchHit]:
        """Full-text search over every chat (reasoning too with `thinking`), best first;
        the last word may be unfinished (search as you type)."""
        return search(self.store, query, thinking=thinking, limit=limit, prefix=True)

    def open(self, conversation_id: str, leaf_id: str | None = None) -> OpenedChat:
        """A conversation's current branch (or the one through `leaf_id`, which becomes
        current) with its versions."""
        conversation = self.store.conversation(conversation_id, messages=False)
        if leaf_id is not None:
            self.store.set_leaf(conversation_id, leaf_id)
        branch = self.store.branch(conversation_id)
        return OpenedChat(conversation, branch, self.versions(conversation_id))

    def versions(self, conversation_id: str) -> dict[str, tuple[int, int]]:
        """Message id → (index, count) among its siblings (same parent and role)."""
        groups: dict[tuple[str | None, str], list[str]] = {}
        for message_id, parent_id, role in self.store.message_links(conversation_id):
            groups.setdefault((parent_id, role), []).append(message_id)
        return {
            mid: (index, len(ids))
            for ids in groups.values()
            if len(ids) > 1
            for index, mid in enumerate(ids)
        }

    def sibling(self, message_id: str, step: int) -> str | None:
        """The leaf of the branch through the version `step` away from `message_id`
        (`None` when there is none that way)."""
        ids = [m.id for m in self.store.versions(message_id)]
        if message_id not in ids:
            return None
        index = ids.index(message_id) + step
        if not 0 <= index < len(ids):
            return None
        return self.store.newest_leaf(ids[index])

    def branches(self, conversation_id: str) -> list[Branch]:
        """Every branch of a conversation (its end, and the question that led there),
        newest first; the current one is marked."""
        current = self.store.branch(conversation_id)
        on_current = current[-1].id if current else None
        return [
            Branch(
                leaf.id,
                asked.content if asked else leaf.content,
                leaf.created_at,
                leaf.id == on_current,
            )
            for leaf, asked in self.store.leaves(conversation_id)
        ]

    def rename(self, conversation_id: str, title: str) -> str:
        """Give a conversation a new title; returns it as saved."""
        self.store.rename(conversation_id, title)
        return self.store.conversation(conversation_id, messages=False).title

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation and all its messages."""
        self.store.delete(conversation_id)

    def delete_message(self, message_id: str) -> None:
        """Delete a message and everything after it."""
        self.store.delete_message(message_id)

    # Sessions and settings

    def options_for(
        self,
        conversation: Conversation | None,
        explicit: Mapping[str, Any] | None = None,
        fallback: str | None = None,
    ) -> ChatOptions:
        """How to run `conversation` (or a new chat): its record, then `explicit`; a
        recorded model that is gone falls back to `fallback` (or the running one)."""
        record = conversation.params if conversation is not None else {}
        fallback = fallback or self.model or self.settings.model
        return chat_options(record, self.settings, fallback, explicit)

    def session(
        self,
        options: ChatOptions,
        conversation_id: str | None = None,
        branch: list[Message] | None = None,
        on_save_error: Callable[[str], None] | None = None,
    ) -> ChatSession:
        """A session on the running engine for a conversation (or a new one)."""
        session = ChatSession(
            self.engine,
            params=options.params,
            system_prompt=options.system_prompt,
            observe=saving_to(self.store, on_save_error),
            conversation_id=conversation_id,
            memory=self.memory_facts(),
        )
        session.load_branch(branch or [])
        with self._engine_lock:
            session.engine = self.engine  # a load may have ended meanwhile
            self._sessions.add(session)
        return session

    # Usage

    def usage(self) -> tuple[UsageReport, list[Price]]:
        """Usage per model and per day (a week a bar past a month), and the hosted prices
        to compare it with (`[stats] compare`, or DeepSeek's API and OpenAI o1)."""
        prices = compared_prices(self.settings)
        return usage_report(self.store, by=natural_grouping(self.store)), prices

    def chat_usage(self, conversation_id: str) -> tuple[Usage, list[Price]]:
        """One chat's tokens and times, and the prices to compare them with."""
        return conversation_usage(self.store, conversation_id), compared_prices(self.settings)

    # Memory

    def memory_facts(self) -> list[str]:
        """The switched-on memory facts, oldest first (none if the store cannot say)."""
        try:
            return Memory(self.store).texts()
        except R1ChatError:
            return []

    def remember(self, text: str) -> Fact:
        """Add a memory fact (`/remember` in the app)."""
        return Memory(self.store).add(text)

    def all_facts(self) -> list[Fact]:
        """Every memory fact, switched on or not."""
        return Memory(self.store).facts()

    def memory(self) -> Memory:
        """The store's memory, for the memory screen."""
        return Memory(self.store)

    def record_settings(self, session: ChatSession) -> None:
        """Save the running model and the session's sampling as its conversation's own."""
        if session.conversation_id is None or self.engine is None:
            return
        record_chat_settings(
            self.store,
            session.conversation_id,
            self.engine,
            session.params,
            session.system_prompt,
        )

    def apply_settings(
        self, session: ChatSession, params: GenerationParams, system_prompt: str
    ) -> ChatSession:
        """Change a session's sampling and system prompt, and save them with its chat."""
        session.params = params
        session.system_prompt = system_prompt
        self.record_settings(session)
        return session

    def plan(self, session: ChatSession, draft: str = "") -> PromptPlan | None:
        """The next prompt's size with `draft` sent now (`None` before a model is loaded)."""
        if session.engine is None:
            return None
        return session.plan(draft)
