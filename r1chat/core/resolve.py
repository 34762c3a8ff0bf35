"""Provides `resolve`: what the user asked for (flags, config, a chat to continue) turned into
the conversation, the model and the settings a chat runs with, for `ask` and the app alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1chat.config import Settings
from r1chat.core.remotes import remote_choice
from r1chat.core.service import ChatOptions, chat_options
from r1chat.engine.remote import is_remote
from r1chat.errors import R1ChatError
from r1chat.models.discovery import ModelChoice, choose_model
from r1chat.paths import Paths
from r1chat.store.chats import ChatStore


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked for on the command line."""

    model: str | None = None
    remote: str | None = None
    remote_model: str | None = None
    continue_last: bool = False
    resume: str | None = None
    overrides: Mapping[str, Any] | None = None
    """Sampling and context flags (`None` values: not given)."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """A chat ready to run: which conversation, on which model, with which settings."""

    conversation_id: str | None
    options: ChatOptions
    explicit: bool
    """The user named the model (a flag or a remote): it overrides a chat's own."""
    default: ModelChoice | None
    """The model r1chat picked by itself (config, the models folder, the demo), if it did:
    the faces say which."""


def conversation_to_open(store: ChatStore | None, request: Request) -> str | None:
    """The saved conversation `-c` or `--resume` names (`None`: a new chat)."""
    if request.continue_last and request.resume:
        raise R1ChatError("Use --continue or --resume ID, not both.")
    if store is None:
        if request.continue_last or request.resume:
            raise R1ChatError("--no-save cannot continue a saved conversation; drop one of them.")
        return None
    if request.resume:
        return store.resolve(request.resume)
    if request.continue_last:
        latest = store.latest()
        if latest is None:
            raise R1ChatError("There is no saved conversation to continue; drop -c to start one.")
        return latest.id
    return None


def resolve(
    settings: Settings, paths: Paths, store: ChatStore | None, request: Request
) -> Resolution:
    """The conversation, model and settings for `request`: a resumed chat's own, unless
    flags say otherwise; config and the default model for a new one.

    Raises:
        R1ChatError: the conversation or the model cannot be found (`ModelError`).
    """
    conversation_id = conversation_to_open(store, request)
    explicit = {key: value for key, value in (request.overrides or {}).items() if value is not None}
    record: dict[str, Any] = {}
    if store is not None and conversation_id is not None:
        record = store.conversation(conversation_id, messages=False).params
    remote = remote_choice(settings, request.model, request.remote, request.remote_model)
    named = bool(request.model or request.remote)
    if remote is not None and named:
        explicit["model"] = remote
    elif request.model:
        explicit["model"] = str(choose_model(settings, paths, request.model).path)
    recorded = str(record.get("model_path") or "")
    usable = bool(recorded) and (is_remote(recorded) or Path(recorded).is_file())
    fallback, default = remote, None
    if "model" not in explicit and not usable and fallback is None:
        choice = choose_model(settings, paths)
        default = None if choice.explicit else choice
        fallback = str(choice.path)
    options = chat_options(record, settings, fallback, explicit)
    return Resolution(conversation_id, options, named, default)
