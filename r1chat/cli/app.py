"""Provides `run_app`: what `r1chat` with no command does (settings, store, model, app)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from r1chat.config import Settings, load_settings
from r1chat.core.chats import ChatStore
from r1chat.core.events import Engine
from r1chat.core.resolve import Request, conversation_to_open, resolve
from r1chat.core.service import ChatService, EngineFactory
from r1chat.crash import guard_wanted, last_crash, run_guarded
from r1chat.errors import ConfigError, ModelError
from r1chat.paths import Paths


def llama_engine_factory(settings: Settings, paths: Paths) -> EngineFactory:
    """Load GGUF models with llama.cpp, as `r1chat ask` does."""

    def load(model: str, n_ctx: int | None) -> Engine:
        from r1chat.core.remotes import load_engine

        return load_engine(model, settings, paths, n_ctx)

    return load


def demo_welcome(paths: Paths, settings: Settings) -> str:
    """What an empty chat on the demo model says: what it is, and which R1 distill to get."""
    from r1chat.models.advice import recommendation_line

    return (
        "This is the demo model, SmolLM2-135M: small, quick, and it does not reason. "
        + recommendation_line(paths, settings)
    )


def check_keymap_file(settings: Settings, paths: Paths) -> None:
    """Refuse to start on a `[keymap]` that names no binding, a key no terminal sends, or a
    key another action has in the same place: one sentence naming the line."""
    from r1chat.ui.keymap import check_keymap

    _, problems = check_keymap(settings.sections.keymap)
    if not problems:
        return
    try:
        text = paths.config_file.read_text(encoding="utf-8")
    except OSError:
        text = ""
    from r1chat.ui.keymap import keymap_line

    problems.sort(key=lambda problem: keymap_line(text, problem.binding_id) or 0)
    sentence = problems[0].sentence(text, str(paths.config_file))
    if len(problems) > 1:
        more = len(problems) - 1
        sentence = (
            f"{sentence[:-1]}; {more:,} more [keymap] entr{'y is' if more == 1 else 'ies are'} "
            "wrong too."
        )
    raise ConfigError(sentence)


def mark_cut(paths: Paths) -> None:
    """After a native crash: mark the reply it cut short as interrupted (opening the store
    does that for replies whose writer is gone)."""
    ChatStore.open(paths).close()


def open_app(
    *,
    model: str | None = None,
    continue_last: bool = False,
    resume: str | None = None,
    preset: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    n_ctx: int | None = None,
    threads: int | None = None,
    think_budget: int | None = None,
    no_think: bool = False,
    remote: str | None = None,
    remote_model: str | None = None,
    trust_template: bool = False,
) -> None:
    """`r1chat` with these options; with none, a plain launch."""
    run_app(
        model=model,
        continue_last=continue_last,
        resume=resume,
        trust_template=trust_template,
        thinking={
            "system_prompt": system,
            "temperature": temperature,
            "top_p": top_p,
            "max_tokens": max_tokens,
            "seed": seed,
            "n_ctx": n_ctx,
            "think_budget": think_budget,
            "thinking": False if no_think else None,
        },
        remote=remote,
        remote_model=remote_model,
        preset=preset,
        threads=threads,
    )


def run_app(
    *,
    model: str | None,
    continue_last: bool,
    resume: str | None,
    trust_template: bool = False,
    thinking: dict[str, Any] | None = None,
    remote: str | None = None,
    remote_model: str | None = None,
    preset: str | None = None,
    threads: int | None = None,
) -> None:
    """Open the chat app; the model loads in the background once it is on screen.

    A resumed chat runs on its own model and settings; `--model` overrides its model,
    and `thinking` (the sampling, system prompt and reasoning flags, after `preset`) its
    settings, which new chats in this run take too; `threads` sets llama.cpp's count.
    """
    paths = Paths.from_env()
    settings = load_settings(paths)
    check_keymap_file(settings, paths)
    if guard_wanted():  # before the store opens or any thread starts
        run_guarded(paths.crash_file, partial(mark_cut, paths))
    if trust_template:
        settings = settings.with_overrides(trust_template=True)
    given = {key: value for key, value in (thinking or {}).items() if value is not None}
    thinking = {**settings.preset_values(preset), **given}  # flags win over the preset
    settings = settings.with_overrides(**thinking, threads=threads)
    store = ChatStore.open(paths)
    request = Request(model, remote, remote_model, continue_last, resume)
    open_conversation = conversation_to_open(store, request)
    notices = [note for note in (last_crash(paths.crash_file),) if note]
    problem = None
    welcome: Callable[[], str] | None = None
    chosen: str | None = None
    explicit = False
    try:
        resolution = resolve(settings, paths, None, Request(model, remote, remote_model))
        chosen, explicit = resolution.options.model, resolution.explicit
        default = resolution.default
        if default is not None and default.source == "demo model":
            welcome = partial(demo_welcome, paths, settings)  # said once the screen is up
    except ModelError as error:
        problem = str(error)
    from r1chat.ui.app import R1ChatApp

    service = ChatService(store, settings, llama_engine_factory(settings, paths))
    app = R1ChatApp(
        settings,
        paths,
        service,
        model=chosen,
        model_explicit=explicit,
        model_problem=problem,
        open_conversation=open_conversation,
        thinking_explicit=thinking,
        welcome=welcome,
        notices=notices,
    )
    try:
        app.run()
    finally:
        service.close()
        store.close()
