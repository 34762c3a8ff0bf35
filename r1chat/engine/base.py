"""Provides the `Engine` protocol and the thread pump every engine streams through."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from r1chat.domain import ChatRequest
from r1chat.engine.events import EngineEvent, Finished, GenerationStats, PromptPlan


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
    local_cpu: bool = False
    """Generation runs on this machine's CPU (a CPU build, or a server on loopback): the
    app then leaves the cores to it while a reply streams."""
    offload: str = ""
    """How much of the model the GPU holds (`24/28 layers`); empty on the CPU or a remote."""
    safe_mode: bool = False
    """llama.cpp runs without its extra buffer types because the full build crashed here."""
    notice: str = ""
    """A sentence the user must read once the model is loaded (safe mode, fewer GPU
    layers after running out of memory); empty when all is well."""
    threads: str = ""
    """How many CPU threads run and why (`2 threads (…)`); empty for servers."""

    @property
    def backend_label(self) -> str:
        """The backend as the status bar names it: `CUDA 24/28 layers`, `CPU safe mode`."""
        label = f"{self.backend} {self.offload}" if self.offload else self.backend
        return f"{label} safe mode" if self.safe_mode else label


@runtime_checkable
class Engine(Protocol):
    """Something that turns a chat into a stream of reasoning and answer deltas."""

    @property
    def info(self) -> EngineInfo:
        """The model and backend this engine runs."""
        ...

    def plan(self, request: ChatRequest) -> PromptPlan:
        """The size of the prompt for `request` after fitting it to the context, and
        how many of the oldest messages fitting leaves out."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes on its own: exact where the engine holds the
        model's tokenizer, estimated otherwise."""
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
GIL_SWITCH_SECONDS = 0.0002
"""While a reply streams, Python hands the GIL between threads this often (default 5 ms).

Each token crosses from the generation thread to the caller's thread, and the
generation thread needs the GIL between llama.cpp calls; with the default interval
either side can wait up to 5 ms behind the other (or behind a UI's drawing), which
costs about a tenth of the speed of a small model. Measured with `r1chat bench` and
`r1chat bench ui`.
"""


class GenerationThread:
    """One long-lived thread that runs an engine's replies, one at a time.

    Reusing the same OS thread keeps llama.cpp's CPU thread pool warm: a fresh
    thread per reply costs about 10 ms before the first token on this machine.
    """

    def __init__(self, name: str = "r1chat-generation") -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the thread (started on first use)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def close(self) -> None:
        """Let the thread finish its current job and end."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            if thread is not threading.current_thread():
                thread.join()


def pump(
    produce: Callable[[Emit, threading.Event], None],
    cancel: threading.Event,
    worker: GenerationThread,
) -> Iterator[EngineEvent]:
    """Run `produce` on `worker` and yield what it emits on the caller's thread.

    `produce` must end by emitting a `Finished`; if it raises instead, a
    `Finished(error)` is emitted for it. Leaving the loop early cancels the
    generation and waits until it has stopped.
    """
    events: queue.SimpleQueue[object] = queue.SimpleQueue()

    def run() -> None:
        try:
            produce(events.put, cancel)
        except Exception as error:  # reported to the consumer as the end of the stream
            events.put(Finished(GenerationStats("error", error=f"{type(error).__name__}: {error}")))
        finally:
            events.put(_DONE)

    worker.submit(run)
    return _drain(events, cancel)


class _FastSwitch:
    """Shortens the GIL switch interval while at least one reply streams."""

    _lock = threading.Lock()
    _active = 0
    _saved = 0.005

    def __enter__(self) -> None:
        with self._lock:
            if _FastSwitch._active == 0:
                _FastSwitch._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(GIL_SWITCH_SECONDS, _FastSwitch._saved))
            _FastSwitch._active += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            _FastSwitch._active -= 1
            if _FastSwitch._active == 0:
                sys.setswitchinterval(_FastSwitch._saved)


def _next(events: queue.SimpleQueue[object]) -> object:
    while True:
        try:
            # A timeout keeps the caller's thread responsive to signals (Ctrl-C).
            return events.get(timeout=0.25)
        except queue.Empty:
            continue


def _drain(events: queue.SimpleQueue[object], cancel: threading.Event) -> Iterator[EngineEvent]:
    done = False
    with _FastSwitch():
        try:
            while (item := _next(events)) is not _DONE:
                yield item  # type: ignore[misc]
            done = True
        finally:
            if not done:  # the consumer left early: stop the reply and wait for its end
                cancel.set()
                while _next(events) is not _DONE:
                    pass
