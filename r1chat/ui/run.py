"""Provides `run_app`: what `r1chat` with no command does (settings, store, model, app)."""

from __future__ import annotations

from r1chat.config import load_settings
from r1chat.errors import ModelError, R1ChatError
from r1chat.models.discovery import choose_model
from r1chat.paths import Paths
from r1chat.store.chats import ChatStore


def run_app(
    *, model: str | None, continue_last: bool, resume: str | None, trust_template: bool = False
) -> None:
    """Open the chat app; the model loads in the background once it is on screen."""
    if continue_last and resume:
        raise R1ChatError("Use --continue or --resume ID, not both.")
    paths = Paths.from_env()
    settings = load_settings(paths)
    if trust_template:
        settings = settings.with_overrides(trust_template=True)
    store = ChatStore.open(paths)
    open_conversation = None
    if resume:
        open_conversation = store.resolve(resume)
    elif continue_last:
        latest = store.latest()
        if latest is None:
            raise R1ChatError("There is no saved conversation to continue; drop -c to start one.")
        open_conversation = latest.id
    problem = None
    chosen: str | None = None
    try:
        chosen = str(choose_model(settings, paths, model).path)
    except ModelError as error:
        problem = str(error)
    from r1chat.ui.app import R1ChatApp, default_engine_factory

    app = R1ChatApp(
        settings,
        paths,
        store,
        default_engine_factory(settings, paths),
        model=chosen,
        model_problem=problem,
        open_conversation=open_conversation,
    )
    try:
        app.run()
    finally:
        store.close()
