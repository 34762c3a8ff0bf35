"""Provides what the chat screen needs of the app that runs it, so that screens depend on
this contract rather than on the app module (which imports them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from r1chat.paths import Paths
from r1chat.ui.priority import ModelFirst


class AppHost(Protocol):
    """The parts of `R1ChatApp` its screens use."""

    paths: Paths
    welcome: str
    """Said in an empty chat (for example: this is the demo model, and what to get)."""
    welcome_source: Callable[[], str] | None
    """Where `welcome` comes from: called off the UI thread once the screen is up."""
    thinking_explicit: dict[str, Any]
    """`--think-budget` / `--no-think`: applied to the first chat opened."""
    model_first: ModelFirst
    """The UI thread's priority while a local CPU model generates."""
    ui_settings: dict[str, Any]
    """The `[ui]` choices in use (theme, thinking, timestamps)."""

    def key(self, binding_id: str) -> str:
        """The key that runs `binding_id` now, as people write it (`Ctrl+G`)."""
        ...

    def remember(self, key: str, value: str | bool) -> None:
        """Keep a UI choice (theme, thinking view) in config.toml."""
