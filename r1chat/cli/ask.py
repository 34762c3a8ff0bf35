"""Provides `r1chat ask`: one question, the answer streamed to stdout, the reasoning to stderr."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from r1chat.config import Settings, load_settings
from r1chat.core.chats import ChatStore
from r1chat.core.events import (
    AnswerDelta,
    EngineEvent,
    Finished,
    GenerationStats,
    Progress,
    PromptPlan,
    ReasoningDelta,
    ReplyControl,
    is_remote,
)
from r1chat.core.remotes import load_engine
from r1chat.core.resolve import Request, resolve
from r1chat.core.service import record_chat_settings, start_session
from r1chat.errors import R1ChatError, StoreError
from r1chat.models.discovery import model_name
from r1chat.paths import Paths
from r1chat.text import terminal_safe
from r1chat.ui.keys import key_label

DIM, RESET, CLEAR_LINE = "\x1b[2m", "\x1b[0m", "\r\x1b[K"
NO_ANSWER_EXIT = 3
"""`ask`'s exit code when the model stopped while reasoning and gave no answer."""


def read_prompt(prompt: str | None, stdin: TextIO) -> str:
    """The prompt from the argument, or from stdin for `-` or no argument."""
    if prompt is None or prompt == "-":
        if prompt is None and stdin.isatty():
            raise R1ChatError('No prompt given; run `r1chat ask "your question"` or pipe text in.')
        try:
            prompt = stdin.read()
        except UnicodeDecodeError as error:
            raise R1ChatError("The text on stdin is not UTF-8; convert it first.") from error
    try:
        prompt.encode("utf-8")  # an argument with bad bytes arrives as lone surrogates
    except UnicodeEncodeError as error:
        raise R1ChatError("The prompt is not valid UTF-8; convert it first.") from error
    if not prompt.strip():
        raise R1ChatError("The prompt is empty; type a question or pipe some text in.")
    return prompt


def _color(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class Spinner:
    """One line on a terminal's stderr saying what is happening while nothing else shows:
    loading the model, reading the prompt, thinking (when the reasoning is hidden). It is
    erased, cleanly, before anything else is written."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    INTERVAL = 0.1

    def __init__(self, err: TextIO, enabled: bool) -> None:
        self.err = err
        self.enabled = enabled
        self.lock = threading.Lock()
        self._phase = ""
        self._started = time.monotonic()
        self._shown = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def phase(self, text: str) -> None:
        """Say this (from now on, with the time since the start)."""
        if not self.enabled:
            return
        self._phase = text
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="r1chat-spinner", daemon=True)
            self._thread.start()

    def clear(self) -> None:
        """Erase the line (call with `lock` held, before writing)."""
        if self._shown:
            self.err.write(CLEAR_LINE)
            self.err.flush()
            self._shown = False

    def pause(self) -> None:
        """Say nothing until the next `phase` (output is about to stream)."""
        with self.lock:
            self._phase = ""
            self.clear()

    def stop(self) -> None:
        """Erase the line for good."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self.lock:
            self.clear()

    def _run(self) -> None:
        frame = 0
        while not self._stop.wait(self.INTERVAL):
            with self.lock:
                if not self._phase:
                    continue
                seconds = time.monotonic() - self._started
                glyph = self.FRAMES[frame % len(self.FRAMES)]
                self.err.write(f"{CLEAR_LINE}{glyph} {self._phase} · {seconds:.1f} s")
                self.err.flush()
                self._shown = True
                frame += 1


class StreamPrinter:
    """Writes deltas as they come: answer to `out`, reasoning dimmed to `err` when shown."""

    def __init__(self, out: TextIO, err: TextIO, *, show_reasoning: bool, answer: bool) -> None:
        self.out, self.err = out, err
        self.progress = err.isatty()
        self.show_reasoning = show_reasoning
        self.answer = answer
        self.color = _color(err)
        self._in_reasoning = False
        self._answer_tail = "\n"
        self._reasoned = False
        self._answered = False
        self._reasoning_tokens = 0
        self.spinner = Spinner(err, err.isatty())

    def reasoning_now(self) -> bool:
        """Whether the model is reasoning (it has, and has not started the answer)."""
        return self._reasoned and not self._answered

    def handle(self, event: EngineEvent) -> None:
        """Print one event."""
        if isinstance(event, PromptPlan):
            if event.dropped_messages:
                turns = event.dropped_turns
                self.err.write(
                    f"r1chat: the oldest {turns:,} turn{'s' if turns != 1 else ''} of this chat "
                    f"no longer fit the {event.n_ctx:,}-token context and were not sent.\n"
                )
                self.err.flush()
            return
        if isinstance(event, Progress):
            if event.done < event.total:
                self.spinner.phase(f"reading prompt {event.done:,} / {event.total:,} tokens")
            else:
                self.spinner.phase("waiting for the first token")
            return
        if isinstance(event, ReasoningDelta):
            self._reasoned = True
            self._reasoning_tokens += 1
            if not self.show_reasoning:
                self.spinner.phase(f"thinking · {self._reasoning_tokens:,} tokens")
            else:
                self.spinner.pause()
            if self.show_reasoning:
                if not self._in_reasoning:
                    self._in_reasoning = True
                    if self.color:
                        self.err.write(DIM)
                self.err.write(terminal_safe(event.text))
                self.err.flush()
        elif isinstance(event, AnswerDelta):
            if not self._answered:
                self.spinner.stop()
            self._answered = True
            self._end_reasoning()
            if self.answer and event.text:
                text = terminal_safe(event.text)
                self.out.write(text)
                self.out.flush()
                self._answer_tail = text[-1:] or self._answer_tail
        elif isinstance(event, Finished):
            self.spinner.stop()
            self._end_reasoning()
            if self.answer and self._answer_tail != "\n":
                self.out.write("\n")
                self.out.flush()

    def _end_reasoning(self) -> None:
        if self._in_reasoning:
            self._in_reasoning = False
            self.err.write((RESET if self.color else "") + "\n\n")
            self.err.flush()


@contextmanager
def sigint_cancels(
    cancel: ReplyControl,
    reasoning: Callable[[], bool] = lambda: False,
    err: TextIO | None = None,
) -> Iterator[None]:
    """While generating, Ctrl-C steers the reply: while the model reasons the first one
    makes it answer from what it has thought; otherwise (or then) it stops the reply
    cleanly, and one more aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        if reasoning() and not cancel.answer_requested:
            cancel.answer_now()
            if err is not None:
                err.write("\nr1chat: answering from the reasoning so far (Ctrl-C again stops)\n")
                err.flush()
            return
        cancel.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def summary(stats: GenerationStats, backend: str) -> str:
    """A one-line account of a reply: backend, tokens, speed, thinking time."""
    parts = [backend, f"{stats.completion_tokens} tokens"]
    if stats.tokens_per_second:
        parts.append(f"{stats.tokens_per_second:.1f} tok/s")
    if stats.draft_tokens_accepted:
        parts.append(f"{stats.draft_tokens_accepted} from prompt lookup")
    if stats.time_to_first_token is not None:
        parts.append(f"first token {stats.time_to_first_token:.2f} s")
    if stats.reasoning_seconds is not None:
        cut = {"user": " (cut short)", "budget": " (budget reached)"}.get(
            stats.reasoning_cut or "", ""
        )
        parts.append(f"thought {stats.reasoning_seconds:.1f} s{cut}")
    if stats.thinking_off:
        parts.append("no reasoning (off)")
    if stats.dropped_messages:
        parts.append(f"{stats.dropped_messages} old messages left out")
    return " · ".join(parts)


def run_ask(
    prompt: str | None,
    *,
    model: str | None,
    overrides: dict[str, Any],
    json_output: bool,
    continue_last: bool = False,
    resume: str | None = None,
    save: bool = True,
    remote: str | None = None,
    remote_model: str | None = None,
    preset: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run `r1chat ask`; return the exit code (130 when stopped by Ctrl-C)."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    paths = Paths.from_env()
    loaded = load_settings(paths)
    given = {key: value for key, value in overrides.items() if value is not None}
    overrides = {**loaded.preset_values(preset), **given}  # flags win over the preset
    settings: Settings = loaded.with_overrides(**overrides)
    text = read_prompt(prompt, stdin)
    store = ChatStore.open(paths) if save else None
    if store is not None:

        def restored(sentence: str) -> None:
            stderr.write(f"r1chat: {terminal_safe(sentence)}\n")

        store.on_restored = restored
    request = Request(model, remote, remote_model, continue_last, resume, overrides)
    resolution = resolve(settings, paths, store if save else None, request)
    conversation_id, options = resolution.conversation_id, resolution.options
    if resolution.default is not None:
        choice = resolution.default
        name = model_name(choice.path, paths, settings)
        stderr.write(
            f"r1chat: using the {terminal_safe(f'{choice.source} {name} ({choice.path})')}\n"
        )
    if options.notice:
        stderr.write(f"r1chat: {terminal_safe(options.notice)}\n")
    if options.model is None:
        raise R1ChatError("No model found for this chat; pass --model PATH.")
    shown_name = options.model if is_remote(options.model) else Path(options.model).name
    loading = Spinner(stderr, stderr.isatty())
    loading.phase(f"loading {terminal_safe(shown_name)}")
    try:
        engine = load_engine(options.model, settings, paths, options.n_ctx)
    finally:
        loading.stop()
    params = options.params
    info = engine.info
    warning = getattr(engine, "warning", None)
    for sentence in (warning, info.notice):
        if sentence:
            stderr.write(f"r1chat: {terminal_safe(sentence)}\n")

    save_failures: list[str] = []

    def save_failed(message: str) -> None:
        save_failures.append(message)
        stderr.write(f"r1chat: {terminal_safe(message)} The answer is shown but not saved.\n")
        stderr.flush()

    session = start_session(engine, options, store, conversation_id, save_failed)
    show = settings.show_thinking
    if show is None:
        show = stdout.isatty() and not json_output
    printer = StreamPrinter(stdout, stderr, show_reasoning=show, answer=not json_output)
    if not info.reasoning and (params.think_budget or not params.thinking):
        stderr.write(
            f"r1chat: {terminal_safe(info.model_name)} does not reason, so --think-budget and "
            "--no-think change nothing.\n"
        )
    cancel = ReplyControl()
    try:
        with sigint_cancels(cancel, printer.reasoning_now, stderr):
            for event in session.reply(text, cancel):
                printer.handle(event)
    finally:
        engine.close()
    reply = session.last_reply
    assert reply is not None and reply.stats is not None
    stats = reply.stats
    if conversation_id is not None and store is not None and not save_failures:
        try:
            record_chat_settings(store, conversation_id, engine, params, options.system_prompt)
        except StoreError as error:  # the answer is out; say what was not saved
            save_failed(str(error))
    if json_output:
        document = {
            "model": info.model_name,
            "model_path": info.model_path,
            "backend": info.backend,
            "gpu_layers": info.offload or None,
            "safe_mode": info.safe_mode,
            "answer": reply.answer,
            "reasoning": reply.reasoning,
            "finish_reason": stats.finish_reason,
            "stats": {**stats.to_dict(), "no_answer": reply.no_answer},
            "conversation_id": session.conversation_id,
            "message_id": reply.message_id,
        }
        # ASCII only: control and bidi characters in a model's text arrive escaped.
        stdout.write(json.dumps(document, ensure_ascii=True) + "\n")
        stdout.flush()
    if store is not None:
        store.close()
    if stats.finish_reason == "error":
        raise R1ChatError(stats.error or "Generation failed; see the llama.cpp log.")
    if stderr.isatty() and not json_output:
        line = summary(stats, info.backend_label)
        stderr.write(f"{DIM}{line}{RESET}\n" if _color(stderr) else f"{line}\n")
    if stats.finish_reason == "length" and not json_output:
        stderr.write(
            f"r1chat: the reply was cut at {stats.completion_tokens} tokens; "
            "raise --max-tokens or --n-ctx for more.\n"
        )
    if session.conversation_id is not None and reply.message_id is not None:
        stderr.write(f"r1chat: saved as {session.conversation_id} (continue with: r1chat ask -c)\n")
    if stats.finish_reason == "cancelled":
        stderr.write("r1chat: stopped.\n")
        return 130
    if reply.no_answer:
        why = "the token limit" if stats.finish_reason == "length" else "the end of its text"
        stderr.write(
            f"r1chat: no answer: the model reached {why} while still reasoning "
            f"({stats.reasoning_tokens:,} tokens); raise --max-tokens, or continue in the app "
            f"({key_label(settings.sections.keymap.get('chat.continue', 'ctrl+g'))}).\n"
        )
        return NO_ANSWER_EXIT
    return 0
