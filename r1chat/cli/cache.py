"""Provides `r1chat cache info|clear`: the saved llama.cpp contexts that make resuming instant."""

from __future__ import annotations

from typing import Any

import typer

from r1chat.paths import Paths

cache_app = typer.Typer(
    help=(
        "Saved llama.cpp contexts that let a long conversation continue without reading it "
        "again: how many and how big (info), or remove them all (clear)."
    ),
    invoke_without_command=True,
    rich_markup_mode=None,
)


OFF = "Resuming from saved contexts is off ([cache] resume = false in config.toml)."


def _contexts() -> Any:
    """The saved contexts under the user's settings (`None`: resuming from them is off)."""
    from r1chat.config import load_settings
    from r1chat.core.remotes import context_cache

    paths = Paths.from_env()
    return context_cache(load_settings(paths), paths)


@cache_app.callback()
def _default(context: typer.Context) -> None:
    if context.invoked_subcommand is None:
        info()


@cache_app.command("info")
def info() -> None:
    """How many contexts are saved, how big they are, and where."""
    contexts = _contexts()
    if contexts is None:
        print(OFF)
        return
    count, size = contexts.info()
    print(
        f"{count} saved context{'s' if count != 1 else ''}, {size / 1e6:,.1f} MB of at most "
        f"{contexts.max_bytes / 1024**3:,.1f} GB, in {contexts.folder}"
    )


@cache_app.command("clear", short_help="Remove every saved context (chats are kept).")
def clear() -> None:
    """Remove every saved context (chats are kept; they are read again next time)."""
    contexts = _contexts()
    print(OFF if contexts is None else f"Removed {contexts.clear()} saved context(s).")
