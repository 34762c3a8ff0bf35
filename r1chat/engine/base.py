"""Provides the `Engine` protocol and the thread pump every engine streams through."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from r1chat.domain import ChatRequest
from r1chat.engine.events import EngineEvent, Finished, GenerationStats


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What the user is told about the running model."""

    model_name: str
    model_path: str
    backend: str
    """`CPU`, `Metal`, `CUDA`, another GPU backend, or `remote`."""
    n_ctx: int
    reasoning: bool
    """The model follows DeepSeek-R1's conventions (thinks in `<think>`)."""
    default_temperature: float
    default_top_p: float


@runtime_checkable
class Engine(Protocol):
    """Something that turns a chat into a stream of reasoning and answer deltas."""

    @property
    def info(self) -> EngineInfo:
        """The model and backend this engine runs."""
        ...

    def count_tokens(self, request: ChatRequest) -> int:
        """Tokens the prompt for `request` takes, after fitting it to the context."""
        ...

    def stream(
        self, request: ChatRequest, cancel: threading.Event | None = None
    ) -> Iterator[EngineEvent]:
        """Start a reply; iterate for deltas, always ending with one `Finished`.

        Problems with the request itself (template, context) raise `R1ChatError`
        before anything is generated. Generation runs on its own thread; setting
        `cancel` stops it within about one token with `finish_reason="cancelled"`.
        """
        ...

    def close(self) -> None:
        """Free the model."""
        ...


Emit = Callable[[EngineEvent], None]
_DONE = object()


def pump(
    produce: Callable[[Emit, threading.Event], None],
    cancel: threading.Event,
    name: str = "r1chat-generation",
) -> Iterator[EngineEvent]:
    """Run `produce` on a thread and yield what it emits on the caller's thread.

    `produce` must end by emitting a `Finished`; if it raises instead, a
    `Finished(error)` is emitted for it. Leaving the loop early cancels the
    generation and waits for the thread.
    """
    events: queue.SimpleQueue[object] = queue.SimpleQueue()

    def run() -> None:
        try:
            produce(events.put, cancel)
        except Exception as error:  # reported to the consumer as the end of the stream
            events.put(Finished(GenerationStats("error", error=f"{type(error).__name__}: {error}")))
        finally:
            events.put(_DONE)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return _drain(events, thread, cancel)


def _drain(
    events: queue.SimpleQueue[object], thread: threading.Thread, cancel: threading.Event
) -> Iterator[EngineEvent]:
    finished = False
    try:
        while True:
            try:
                # A timeout keeps the caller's thread responsive to signals (Ctrl-C).
                item = events.get(timeout=0.25)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            if isinstance(item, Finished):
                finished = True
            yield item  # type: ignore[misc]
    finally:
        if not finished:
            cancel.set()
        thread.join()
