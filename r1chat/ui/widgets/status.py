"""Provides `StatusBar`: model, backend, context use, live speed and what r1chat is doing."""

from __future__ import annotations

import re
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from r1chat.core.events import PromptPlan
from r1chat.ui.plain import plain
from r1chat.ui.widgets.sizing import laid_out_size

WARN_AT = 0.80
"""Share of the context window at which the meter turns to a warning colour."""
FULL_AT = 0.95
REDRAWN_BY = (
    "model",
    "backend",
    "threads",
    "context_used",
    "generated",
    "dropped_turns",
    "overflow",
    "n_ctx",
    "window_guessed",
    "tokens_per_second",
    "state",
    "memory",
    "draft_tokens",
)
"""The bar is drawn again when any of these change."""
STATE_WIDTH = len("answering")
"""States up to this long are centred in this width."""
COMPACT_BELOW = 100
"""Columns under which the meter says `· 933 left out` instead of `· 933 old turns left out`."""
MODEL_AT_LEAST = 12
"""Columns the model's name keeps before the speed, then the memory count, give way: the
state and the context meter are always shown whole."""


_PATH = re.compile(r"^(/|~/|\.{1,2}/|[A-Za-z]:[\\/])|\.gguf$", re.IGNORECASE)


def short_model_name(name: str) -> str:
    """A model named by a file path (as servers often do) by its file's name, without
    `.gguf`: the bar has no room for `/models/…/DeepSeek-R1-…-Q4_K_M.gguf`. Names that are
    not paths (`deepseek-ai/DeepSeek-R1`, `qwen:7b`) stay whole."""
    if not _PATH.search(name):
        return name
    last = re.split(r"[\\/]", name.rstrip("/\\"))[-1]
    stem = last[: -len(".gguf")] if last.lower().endswith(".gguf") else last
    return stem or name


class StatusPart(Static):
    """One part of the bar (its width follows its text)."""

    virtual_size = laid_out_size()


class StatusBar(Horizontal):
    """One line at the bottom of the chat."""

    model: reactive[str] = reactive("no model", init=False)
    backend: reactive[str] = reactive("", init=False)
    threads: reactive[str] = reactive("", init=False)
    """How many CPU threads llama.cpp runs and why (the model's tooltip)."""
    context_used: reactive[int] = reactive(0, init=False)
    """Tokens of the next prompt (history as it will be sent, plus the draft)."""
    generated: reactive[int] = reactive(0, init=False)
    """Tokens of the reply streaming now (they fill the context too)."""
    dropped_turns: reactive[int] = reactive(0, init=False)
    """Oldest turns that no longer fit and will not be sent."""
    n_ctx: reactive[int] = reactive(0, init=False)
    window_guessed: reactive[bool] = reactive(False, init=False)
    """The window is assumed (a server that does not say its context size)."""
    tokens_per_second: reactive[float | None] = reactive(None, init=False)
    state: reactive[str] = reactive("idle", init=False)
    """`loading model`, `reading prompt …`, `thinking`, `answering`, `idle`, or a failure."""
    overflow: reactive[str] = reactive("", init=False)
    """Set when the draft cannot fit at all."""
    draft_tokens: reactive[int] = reactive(0, init=False)
    """Tokens of what is in the message box, on its own (shown in the meter's tooltip)."""
    memory: reactive[tuple[int, int, int]] = reactive((0, 0, 0), init=False)
    """Memory facts in the next prompt, facts switched on, and their tokens."""

    def compose(self) -> ComposeResult:
        yield StatusPart(id="status-state")
        yield StatusPart(id="status-model")
        yield StatusPart(id="status-context")
        yield StatusPart(id="status-memory")
        yield StatusPart(id="status-speed")

    def on_mount(self) -> None:
        self._widths: dict[str | None, int] = {}
        self._contents: dict[str | None, tuple[str, tuple[Any, ...]]] = {}
        """What each part shows now (its text and styles)."""
        self._model_room = 0
        for name in REDRAWN_BY:
            self.watch(self, name, self._refresh_all, init=False)
        self._refresh_all()

    def show_plan(self, plan: PromptPlan, draft_tokens: int | None = None) -> None:
        """Show the next (or current) prompt's size against the window (and, measured
        before a send, the draft's own tokens)."""
        if draft_tokens is not None:
            self.draft_tokens = draft_tokens
        self.n_ctx = plan.n_ctx
        self.window_guessed = plan.window_guessed
        self.context_used = plan.tokens
        self.dropped_turns = plan.dropped_turns
        self.overflow = ""

    def show_overflow(self, reason: str) -> None:
        """The draft cannot fit however much history is left out."""
        self.overflow = reason

    def context_text(self, compact: bool = False) -> str:
        """`ctx 1,234/8,192 15%`, never past 100%, with the turns left out (`compact`:
        `· 933 left out`)."""
        if not self.n_ctx:
            return ""
        if self.overflow:
            return "ctx full: the message is too long"
        used = min(self.n_ctx, self.context_used + self.generated)
        window = f"~{self.n_ctx:,}?" if self.window_guessed else f"{self.n_ctx:,}"
        text = f"ctx {used:,}/{window} {used * 100 // self.n_ctx}%"
        if self.dropped_turns:
            turns = self.dropped_turns
            if compact:
                text += f" · {turns:,} left out"
            else:
                text += f" · {turns:,} old turn{'s' if turns != 1 else ''} left out"
        return text

    def context_tooltip(self) -> str | None:
        """What the meter counts, and what the draft in the message box takes of it."""
        if not self.n_ctx:
            return None
        draft = self.draft_tokens
        share = draft * 100 / self.n_ctx
        return (
            f"The next prompt: {self.context_used + self.generated:,} of the model's "
            f"{self.n_ctx:,}-token window (history as it will be sent, and your draft).\n"
            f"Your draft: {draft:,} token{'s' if draft != 1 else ''}, "
            f"{share:.1f}% of the window. `r1chat tokens` shows how text splits."
            + (
                "\nThe server does not say its context size: this window is assumed until "
                "it refuses a prompt (set n_ctx under [remotes.NAME] in config.toml)."
                if self.window_guessed
                else ""
            )
        )

    def _refresh_all(self) -> None:
        if not self.is_mounted:
            return
        state = self.query_one("#status-state", Static)
        # The usual states share one width, so going from one to another (`answering` to
        # `stopped`) redraws the bar without laying the whole screen out again.
        self._show(state, Content(f" {self.state:^{STATE_WIDTH}} "))
        busy = self.state in ("thinking", "answering") or self.state.startswith("reading")
        state.set_class(busy, "busy")
        state.set_class(self.state == "loading model", "loading")
        state.set_class(self.state.startswith("model failed"), "failed")
        name = short_model_name(self.model)
        shown = self.query_one("#status-model", Static)
        self._show(shown, plain(name + (f" · {self.backend}" if self.backend else "")))
        about = [self.model] if name != self.model else []
        if self.threads:
            about.append(f"llama.cpp runs {self.threads}")
        shown.tooltip = Content("\n".join(about)) if about else None
        context = self.query_one("#status-context", Static)
        self._show(context, Content(self.context_text(compact=self.size.width < COMPACT_BELOW)))
        share = (self.context_used + self.generated) / self.n_ctx if self.n_ctx else 0.0
        full = bool(self.overflow) or share >= FULL_AT
        context.set_class(full, "full")
        context.set_class(not full and (share >= WARN_AT or self.dropped_turns > 0), "warn")
        context.tooltip = self.context_tooltip()
        used, wanted, tokens = self.memory
        text = ""
        if wanted:
            text = f"mem {used}" + (f"/{wanted}" if used < wanted else "") + f" · {tokens:,} tok"
        memory = self.query_one("#status-memory", Static)
        self._show(memory, Content(text))
        memory.set_class(used < wanted, "warn")
        speed = f"{self.tokens_per_second:.1f} tok/s" if self.tokens_per_second else ""
        speed_part = self.query_one("#status-speed", Static)
        self._show(speed_part, Content(speed))
        self._fit(memory, speed_part, bool(text))  # after `_show` sized every part

    def on_resize(self) -> None:
        self._refresh_all()

    def _fit(self, memory: Static, speed: Static, memory_wanted: bool) -> None:
        """Give way from the right when the bar is narrow: the speed first, then the
        memory count; the model's name is cut last (the state and meter stay whole)."""
        width = self.size.width
        if not width:
            return
        sizes = {name: self._widths.get(name, 0) + 2 for name in self._widths}
        room = width - sizes.get("status-state", 0) - sizes.get("status-context", 0)
        keep_speed = keep_memory = True
        if room - sizes.get("status-memory", 0) - sizes.get("status-speed", 0) < MODEL_AT_LEAST:
            keep_speed = False
            if room - sizes.get("status-memory", 0) < MODEL_AT_LEAST:
                keep_memory = False
        speed.display = keep_speed
        memory.display = memory_wanted and keep_memory
        rest = room - (sizes.get("status-speed", 0) if keep_speed else 0)
        rest -= sizes.get("status-memory", 0) if memory.display else 0
        model = self.query_one("#status-model", Static)
        if self._model_room != max(1, rest):
            self._model_room = max(1, rest)
            model.styles.max_width = self._model_room  # Textual's 1fr keeps the text's width

    def _show(self, part: Static, content: Content) -> None:
        """Update one part: not at all if it shows this already; the screen is laid out
        again only if its width changes."""
        key = (content.plain, tuple(content.spans))
        if self._contents.get(part.id) == key:
            return
        self._contents[part.id] = key
        width = content.cell_length
        if self._widths.get(part.id) != width or part.size.width == 0:
            self._widths[part.id] = width
            part.update(content)
        else:
            part.update(content, layout=False)
