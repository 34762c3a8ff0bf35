"""Provides `StatusBar`: model, backend, context use, live speed and what r1chat is doing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from r1chat.text import terminal_safe


class StatusBar(Horizontal):
    """One line at the bottom of the chat."""

    model: reactive[str] = reactive("no model", init=False)
    backend: reactive[str] = reactive("", init=False)
    context_used: reactive[int] = reactive(0, init=False)
    n_ctx: reactive[int] = reactive(0, init=False)
    tokens_per_second: reactive[float | None] = reactive(None, init=False)
    state: reactive[str] = reactive("idle", init=False)
    """`loading model`, `thinking`, `answering`, `idle`, or a failure."""

    def compose(self) -> ComposeResult:
        yield Static(id="status-state")
        yield Static(id="status-model")
        yield Static(id="status-context")
        yield Static(id="status-speed")

    def on_mount(self) -> None:
        self._refresh_all()

    def watch_model(self) -> None:
        self._refresh_all()

    def watch_backend(self) -> None:
        self._refresh_all()

    def watch_context_used(self) -> None:
        self._refresh_all()

    def watch_n_ctx(self) -> None:
        self._refresh_all()

    def watch_tokens_per_second(self) -> None:
        self._refresh_all()

    def watch_state(self) -> None:
        self._refresh_all()

    def _refresh_all(self) -> None:
        if not self.is_mounted:
            return
        state = self.query_one("#status-state", Static)
        state.update(Content(f" {self.state} "))
        state.set_class(self.state in ("thinking", "answering"), "busy")
        state.set_class(self.state == "loading model", "loading")
        state.set_class(self.state.startswith("model failed"), "failed")
        model = terminal_safe(self.model) + (f" · {self.backend}" if self.backend else "")
        self.query_one("#status-model", Static).update(Content(model))
        context = f"ctx {self.context_used:,}/{self.n_ctx:,}" if self.n_ctx else ""
        self.query_one("#status-context", Static).update(Content(context))
        speed = f"{self.tokens_per_second:.1f} tok/s" if self.tokens_per_second else ""
        self.query_one("#status-speed", Static).update(Content(speed))
