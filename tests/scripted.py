"""Provides `ScriptedEngine`: a deterministic engine for UI tests and the UI benchmark.

It speaks the same protocol as the real engines (same events, same thread pump,
same `<think>` splitter) but plays back a script instead of running a model.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from r1chat.domain import ChatRequest
from r1chat.engine.base import Emit, EngineInfo, GenerationThread, pump
from r1chat.engine.context import estimated_plan, estimated_tokens
from r1chat.engine.events import (
    EngineEvent,
    Finished,
    FinishReason,
    Progress,
    PromptPlan,
)
from r1chat.engine.steering import ReplyTally
from r1chat.engine.think import CLOSE
from r1chat.errors import R1ChatError


def split_pieces(text: str, size: int = 4) -> list[str]:
    """Cut `text` into token-sized pieces (a tag may be cut anywhere, as with real models)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class Script:
    """One scripted reply: raw model text (with `<think>` tags), how fast, and when to pause."""

    text: str
    tokens_per_second: float = 0.0
    """0 plays as fast as possible."""
    piece_size: int = 4
    gate_after: int | None = None
    """Stop after this many pieces until `ScriptedEngine.gate` is set (for cancel tests)."""
    starts_in_reasoning: bool = False
    error_after: int | None = None
    """End with `finish_reason="error"` after this many pieces."""


@dataclass
class ScriptedEngine:
    """Plays scripted replies in order (the last one repeats), like a model would stream them."""

    scripts: Sequence[Script]
    model_name: str = "Scripted R1"
    model_path: str = "scripted"
    n_ctx: int = 4096
    reasoning: bool = True
    backend: str = "scripted"
    """What it says it runs on; `CPU` makes the app give way to it as to a local CPU model."""
    requests: list[ChatRequest] = field(default_factory=list)
    """Every request received, for assertions."""
    gate: threading.Event = field(default_factory=threading.Event)
    _worker: GenerationThread = field(default_factory=GenerationThread, repr=False)
    _busy: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def info(self) -> EngineInfo:
        """A model that says what it is."""
        return EngineInfo(
            self.model_name,
            self.model_path,
            self.backend,
            self.n_ctx,
            self.reasoning,
            0.6,
            0.95,
            local_cpu=self.backend == "CPU",
        )

    def count_tokens(self, text: str) -> int:
        """About how many tokens `text` takes (no tokenizer here: an estimate)."""
        return estimated_tokens(text)

    def plan(self, request: ChatRequest) -> PromptPlan:
        """Fit `request` as the real engines do, counting about four characters a token."""
        fixed = estimated_tokens(request.system_prompt)
        fixed += estimated_tokens(request.continue_reasoning or "") + 2
        return estimated_plan(request, self.n_ctx, fixed)

    def stream(
        self, request: ChatRequest, cancel: threading.Event | None = None
    ) -> Iterator[EngineEvent]:
        """Play the next script on the generation thread."""
        if not request.messages or request.messages[-1].role != "user":
            raise R1ChatError("A reply needs a conversation that ends with a user message.")
        if not self._busy.acquire(blocking=False):
            raise R1ChatError("The model is still answering; stop that reply first.")
        script = self.scripts[min(len(self.requests), len(self.scripts) - 1)]
        self.requests.append(request)
        cancel = cancel or threading.Event()
        plan = self.plan(request)
        continuing = request.continue_reasoning is not None

        thinking_off = self.reasoning and not request.params.thinking and not continuing
        tally = ReplyTally(
            cancel,
            starts_in_reasoning=(script.starts_in_reasoning or continuing) and not thinking_off,
            continuing=continuing,
            think_budget=request.params.think_budget if self.reasoning else None,
            thinking_off=thinking_off,
        )

        def produce(emit: Emit, cancel: threading.Event) -> None:
            try:
                emit(plan)
                emit(Progress(plan.tokens, plan.tokens))
                finish, error = self._play(script, emit, tally, request.params.max_tokens)
                emit(
                    Finished(
                        tally.stats(
                            finish,
                            error,
                            prompt_tokens=plan.tokens,
                            dropped_messages=plan.dropped_messages,
                        )
                    )
                )
            finally:
                self._busy.release()

        return pump(produce, cancel, self._worker)

    def _play(
        self, script: Script, emit: Emit, tally: ReplyTally, limit: int | None
    ) -> tuple[FinishReason, str | None]:
        """Play `script` as a model would stream it; a cut skips to its answer."""
        cancel = tally.cancel
        interval = 1 / script.tokens_per_second if script.tokens_per_second else 0.0
        answer = script.text.split(CLOSE, 1)[1] if CLOSE in script.text else ""
        text = answer if tally.thinking_off else script.text
        pieces = deque(split_pieces(text, script.piece_size))
        finish: FinishReason = "stop"
        error: str | None = None
        next_at = tally.started
        index = 0
        while pieces:
            piece = pieces.popleft()
            if script.gate_after is not None and index == script.gate_after:
                while not self.gate.wait(0.01):
                    if cancel.is_set():
                        break
            if cancel.is_set():
                finish = "cancelled"
                break
            if script.error_after is not None and index == script.error_after:
                finish, error = "error", "the scripted model failed"
                break
            index += 1
            if interval:
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            for delta in tally.token(piece):
                emit(delta)
            if limit and tally.generated >= limit:
                finish = "length"
                break
            reason = tally.cut_due()
            if reason is not None:  # answer now: the script goes on with its answer
                for delta in tally.cut(reason):
                    emit(delta)
                pieces = deque(split_pieces(answer.lstrip(), script.piece_size))
        for delta in tally.finish():
            emit(delta)
        return finish, error

    def close(self) -> None:
        """Stop the generation thread."""
        self._worker.close()
