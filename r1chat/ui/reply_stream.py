"""Provides `ReplyStream`: one reply's deltas carried from the generation worker to the screen.

The worker thread only appends to a deque; the stream drains it on a timer, writing
at most once per frame whatever the token rate. Frames come up to 20 times a second
and less often while drawing costs the UI thread more than a fifth of a core (a long
Markdown answer costs more to lay out with every block), because on a small machine
every UI cycle is taken from llama.cpp.

While a reply streams, Python's cyclic garbage collector waits: a full pass over a
long chat's objects holds the UI thread for 40-60 ms, several times a reply. It runs
again as soon as the reply ends.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from r1chat.core.events import AnswerDelta, EngineEvent, Progress, PromptPlan, ReasoningDelta
from r1chat.core.service import Reply
from r1chat.ui import timing
from r1chat.ui.priority import ModelFirst
from r1chat.ui.widgets.messages import AssistantMessage

FLUSH_HZ = 20
"""Most screen writes of streamed text per second."""
UI_CPU_BUDGET = 0.2
"""Share of one core the UI thread may spend showing a stream before frames thin out."""
MODEL_FIRST_BUDGET = 0.04
"""The same while a local CPU model generates: every cycle the UI takes, llama.cpp loses."""
MODEL_FIRST_HZ = 5
"""Frames a second a local CPU model's reply starts at (fewer if frames cost more)."""
STATUS_EVERY = 0.5
"""Seconds between updates of the live speed and token count in the status bar."""
SLOWEST_FLUSH = 0.5
STOPPING_POLL = 0.01
"""Once the user stops a reply, how often the stream looks for its end."""
WAKE = 0.001
"""The delay of a frame drawn at once (Textual's timers take no zero)."""


@dataclass
class ReplyDone:
    """Put on the queue by the generation worker once the session has saved the reply."""

    reply: Reply | None
    error: str | None = None
    started: bool = True
    """False when the reply was refused before anything was sent (the prompt did not fit)."""
    text: str = ""
    """The user's message, to give back when the reply did not start."""


class ReplyStream:
    """Drains a reply's events into its message, and reports state and speed as it goes."""

    def __init__(
        self,
        widget: AssistantMessage,
        set_timer: Callable[[float, Callable[[], Awaitable[None]]], Any],
        on_state: Callable[[str], None],
        on_speed: Callable[[float | None], None],
        on_done: Callable[[AssistantMessage, ReplyDone], Awaitable[None]],
        *,
        on_plan: Callable[[PromptPlan], Awaitable[None]] | None = None,
        on_generated: Callable[[int], None] | None = None,
        model_first: ModelFirst | None = None,
        reasoning: bool = True,
    ) -> None:
        self.widget = widget
        self.events: deque[EngineEvent | ReplyDone] = deque()
        """Filled by the generation worker (deque appends are thread-safe)."""
        self.done = False
        self._set_timer = set_timer
        self._on_state, self._on_speed, self._on_done = on_state, on_speed, on_done
        self._on_plan, self._on_generated = on_plan, on_generated
        self._first_delta: float | None = None
        self._thinking_since: float | None = None
        """When the prompt was read (or the first reasoning came): the thinking clock
        starts there, not while the prompt is read."""
        self._deltas = 0
        self._answering = False
        self._status_at = 0.0
        self._last_tick = (time.perf_counter(), time.thread_time())
        self._timer: Any = None
        self._collector_was_on = False
        self._stopping = False
        self._held = False
        """Stopped, and no frame until the screen has said so (`look_for_end`)."""
        self._model_first = model_first
        """Set for a local CPU model: the UI thread gives way to it while the reply runs."""
        self._waiting = "thinking" if reasoning else "answering"
        """What the model is doing once the prompt is read: a model that does not reason
        is answering from its first token."""
        self._budget = UI_CPU_BUDGET if model_first is None else MODEL_FIRST_BUDGET
        self._fastest = 1 / (FLUSH_HZ if model_first is None else MODEL_FIRST_HZ)
        self._interval = self._fastest

    def start(self) -> None:
        """Begin drawing frames (the garbage collector waits until the reply ends)."""
        self._collector_was_on = gc.isenabled()
        gc.disable()
        if self._model_first is not None:
            self._model_first.lower()
        self._on_state("reading prompt")
        self._on_speed(None)
        self._timer = self._set_timer(self._interval, self._tick)

    def stopping(self) -> None:
        """The user stopped the reply: keep the state said, and draw no frame until
        `look_for_end` (the screen shows that it stopped first: a frame drawn before the
        next screen update held that word back by a frame's work)."""
        self._stopping = self._held = True
        self._interval = STOPPING_POLL
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def look_for_end(self) -> None:
        """After `stopping`: look for the reply's end often."""
        self._held = False
        if self.done or self._timer is not None:
            return
        self._timer = self._set_timer(self._interval, self._tick)

    def wake(self) -> None:
        """Draw the next frame now: the reply has ended, and it shows as finished at once
        instead of at the next frame (up to `SLOWEST_FLUSH` away on a busy UI)."""
        if self.done or self._held:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self._set_timer(WAKE, self._tick)

    def _state(self, state: str) -> None:
        if not self._stopping:
            self._on_state(state)

    def release(self) -> None:
        """Put back the collector and the UI's priority (the reply ended, or the screen went)."""
        timing.reply_ended()
        if self._model_first is not None:
            self._model_first.restore()
        if self._collector_was_on:
            self._collector_was_on = False
            gc.enable()

    async def _tick(self) -> None:
        """One frame: write what arrived, then pick the next frame's delay from the UI's load."""
        wall, cpu = time.perf_counter(), time.thread_time()
        last_wall, last_cpu = self._last_tick
        if wall > last_wall and not self._stopping:
            load = (cpu - last_cpu) / (wall - last_wall)
            if load > self._budget:
                self._interval = min(SLOWEST_FLUSH, self._interval * 1.3)
            elif load < self._budget / 2:
                self._interval = max(self._fastest, self._interval / 1.3)
        self._last_tick = (wall, cpu)
        if self._model_first is not None:
            self._model_first.settle()
        await self.flush()
        timing.reply_frame()
        if not self.done:
            self._timer = self._set_timer(self._interval, self._tick)

    async def flush(self) -> None:
        """Write what arrived since the last frame: one append per kind, at most."""
        if self.done:
            return
        reasoning: list[str] = []
        answer: list[str] = []
        finished: ReplyDone | None = None
        plan: PromptPlan | None = None
        progress: Progress | None = None
        while self.events:
            event = self.events.popleft()
            if isinstance(event, ReasoningDelta):  # the splitter never sends it after answer text
                reasoning.append(event.text)
            elif isinstance(event, AnswerDelta):
                answer.append(event.text)
            elif isinstance(event, Progress):
                progress = event
            elif isinstance(event, PromptPlan):
                plan = event
            elif isinstance(event, ReplyDone):
                finished = event
                break
        if plan is not None and self._on_plan is not None:
            await self._on_plan(plan)
        now = time.monotonic()
        if progress is not None and not self._deltas and not (reasoning or answer):
            if progress.done < progress.total:
                self._state(f"reading prompt {progress.done:,} / {progress.total:,} tokens")
            else:
                self._state(self._waiting)
                self._thinking_since = self._thinking_since or now
        if reasoning:
            self._thinking_since = self._thinking_since or now
        if reasoning or answer:
            if not self._deltas and not answer:
                self._state("thinking")  # reasoning text: it does reason
            self._deltas += len(reasoning) + len(answer)
            self._first_delta = self._first_delta or now
        status_due = self._deltas and now - self._status_at >= STATUS_EVERY
        if status_due:
            self._status_at = now
            if self._on_generated is not None:
                self._on_generated(self._deltas)
        if reasoning:
            self.widget.append_reasoning("".join(reasoning), len(reasoning))
        if answer:
            if not self._answering:
                self._answering = True
                self._state("answering")
                if self._thinking_since is not None:  # the clock's last reading, for the title
                    self.widget.tick(now - self._thinking_since)
            await self.widget.append_answer("".join(answer))
        elif not self._answering:
            since = self._thinking_since
            self.widget.tick(None if since is None else now - since)
        if status_due and self._first_delta and now > self._first_delta and self._deltas > 1:
            self._on_speed((self._deltas - 1) / (now - self._first_delta))
        if finished is not None:
            self.done = True
            if self._timer is not None:
                self._timer.stop()
            self.release()
            await self._on_done(self.widget, finished)
