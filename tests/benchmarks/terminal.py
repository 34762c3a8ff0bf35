"""Provides the terminal figures of `r1chat bench ui`: the real app in a pseudo-terminal.

What a user gets is measured from outside: the app runs as its own process on a
pseudo-terminal whose output this process reads (and drops, as a fast terminal
would), and bare llama-cpp-python runs as another process with the same model,
prompt, thread count and token count. The two alternate, so the machine's drift
falls on both.

From the app's side a few counters are kept by `_instrument`, which wraps (in the
app's process only) the frame writer and the reply stream: the UI thread's CPU
while a reply streams, and the frames drawn. Generation speed is read from the
reply the app saved.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1chat.errors import R1ChatError
from r1chat.models.hardware import default_threads

SIZE = (120, 40)
TOKENS = 256
ROUNDS = 3
SEED = 1234
PROMPT = (
    "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle. "
    "Describe the sea, the weather and the keeper's thoughts."
)
STOP_AFTER_TOKENS = 48
"""The Esc run presses Esc once the reply has this many tokens."""
STOPPED_MARK = b" stopped "
"""What the status bar shows once a reply has stopped."""
TYPED = "xyzzy"
"""What the Esc runs type into the message box while the reply streams, to time the echo."""
COMPOSER_MARK = b"(Enter sends"
"""Part of the empty message box's placeholder (its first letter is drawn under the
cursor, apart from the rest): the first screen is up."""
IDLE_MARK = b" idle "
"""What the status bar shows once the model has loaded."""
WAIT_SECONDS = 180

_BARE_SCRIPT = """
import json, sys, time
import llama_cpp
path, threads, tokens, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
n_ctx = int(sys.argv[5])
llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=512, n_threads=threads,
                      n_threads_batch=threads, verbose=False)
ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
stamps = []
for chunk in llm.create_completion(ids, max_tokens=tokens, temperature=0.0, top_k=40,
                                   top_p=0.95, min_p=0.05, seed=1234, stream=True):
    stamps.append(time.perf_counter())
print(json.dumps({"tokens": len(stamps), "seconds": stamps[-1] - stamps[0]}))
"""

_APP_SCRIPT = """
import sys
from tests.benchmarks.terminal import _instrument
_instrument(sys.argv[1], int(sys.argv[2]))
from r1chat.cli import main
main(sys.argv[3:])
"""


def _instrument(report_path: str, stop_after: int) -> None:
    """In the app's process: count the reply's frames, and time the UI thread while a reply
    streams, through the app's public timing hooks (`r1chat.ui.timing`).

    Streaming runs from the first tokens on screen to the end of generation; the
    mounting of the reply before it, and the saving after it, are not counted.
    """
    from r1chat.ui import timing

    report = open(report_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - process-long

    def write(kind: str, **values: Any) -> None:
        report.write(json.dumps({"event": kind, "time": time.time(), **values}) + "\n")

    class Observer:
        def __init__(self) -> None:
            self.frames = 0
            self.start: tuple[float, float, float, int] | None = None
            self.told = False

        def model_ready(self, threads: int | None) -> None:
            write("ready", threads=threads)

        def tokens_shown(self, tokens: int) -> None:
            if self.start is None:  # streaming starts with the first tokens on screen
                self.start = (
                    time.perf_counter(),
                    time.thread_time(),
                    time.process_time(),
                    self.frames,
                )
            if tokens >= stop_after and not self.told:
                self.told = True
                write("generating", tokens=tokens)

        def reply_frame(self) -> None:
            self.frames += 1

        def reply_ended(self) -> None:
            if self.start is None:
                return
            wall, cpu, process, count = self.start
            self.start = None
            seconds = time.perf_counter() - wall
            write(
                "reply",
                seconds=seconds,
                ui_cpu=(time.thread_time() - cpu) / seconds,
                process_cpu=(time.process_time() - process) / seconds,
                frames_per_second=(self.frames - count) / seconds,
            )

    timing.observe(Observer())


class Terminal:
    """A pseudo-terminal of `SIZE` whose output is read as fast as it comes, and dropped.

    The bytes after a chosen point are kept, so a test for text on screen can say
    when it arrived.
    """

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        columns, rows = SIZE
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self._lock = threading.Lock()
        self._watch: bytearray | None = None
        self._arrivals: list[tuple[int, float]] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="bench-terminal", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:  # the app's side closed
                return
            now = time.perf_counter()
            with self._lock:
                if self._watch is not None:
                    self._watch += chunk
                    self._arrivals.append((len(self._watch), now))

    def watch(self) -> None:
        """Keep what arrives from now on."""
        with self._lock:
            self._watch, self._arrivals = bytearray(), []

    def seen(self, mark: bytes) -> float | None:
        """When `mark` arrived (since `watch`), or `None` if it has not."""
        with self._lock:
            if self._watch is None:
                return None
            where = self._watch.find(mark)
            if where < 0:
                return None
            end = where + len(mark)
            return next(stamp for size, stamp in self._arrivals if size >= end)

    def arrival(
        self, mark: bytes, seconds: float, failure: str, app: subprocess.Popen[bytes] | None = None
    ) -> float:
        """When `mark` arrived, waiting for it up to `seconds` (or until `app` ends)."""
        deadline = time.monotonic() + seconds
        while (shown := self.seen(mark)) is None:
            if time.monotonic() > deadline or (app is not None and app.poll() is not None):
                raise R1ChatError(failure)
            time.sleep(0.002)
        return shown

    def type(self, text: str) -> None:
        """Send keys, as a terminal does when they are typed or pasted."""
        os.write(self.master, text.encode("utf-8"))

    def close(self) -> None:
        self._closed = True
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class AppRun:
    """One reply in the app, as its saved record and its counters tell it."""

    tokens_per_second: float
    tokens: int
    ui_cpu: float
    frames_per_second: float
    stop_seconds: float | None = None
    typed_seconds: float | None = None
    """Keys typed while the reply streamed → shown in the message box."""
    threads: int | None = None
    finished_at: list[float] = field(default_factory=list)
    """Wall-clock times the app showed each reply as finished."""
    process_cpu: float = 0.0
    """The app's whole process, in cores, while the reply streamed (with a local model,
    llama.cpp's threads too)."""


@dataclass
class Figures:
    """What `bench ui` prints about the app in a terminal."""

    model: str
    default_threads: int
    why: str
    app: list[AppRun] = field(default_factory=list)
    bare: dict[int, list[float]] = field(default_factory=dict)
    stops: list[float] = field(default_factory=list)
    typed: list[float] = field(default_factory=list)
    launches: list[tuple[float, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        bare = {threads: statistics.median(runs) for threads, runs in self.bare.items()}
        best = max(bare, key=lambda threads: bare[threads])
        app = statistics.median(run.tokens_per_second for run in self.app)
        same = bare[self.default_threads]
        return {
            "model": self.model,
            "size": f"{SIZE[0]}x{SIZE[1]}",
            "tokens": TOKENS,
            "rounds": len(self.app),
            "default_threads": self.default_threads,
            "default_threads_why": self.why,
            "bare_tokens_per_second": bare,
            "best_threads": best,
            "app_tokens_per_second": app,
            "app_over_bare": app / same,
            "default_over_best": same / bare[best],
            "ui_thread_cores": statistics.median(run.ui_cpu for run in self.app),
            "frames_per_second": statistics.median(run.frames_per_second for run in self.app),
            "esc_to_stopped_ms": [seconds * 1000 for seconds in self.stops],
            "typed_to_shown_ms": [seconds * 1000 for seconds in self.typed],
            "launch_to_screen_seconds": [screen for screen, _ in self.launches],
            "launch_to_model_seconds": [model for _, model in self.launches],
            "runs": [run.__dict__ for run in self.app],
            "bare_runs": self.bare,
        }


def _bare(model: Path, threads: int, prompt: str, n_ctx: int) -> float:
    """Generation tok/s of bare llama-cpp-python in a process of its own."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _BARE_SCRIPT,
            str(model),
            str(threads),
            str(TOKENS),
            prompt,
            str(n_ctx),
        ],
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise R1ChatError(f"bare llama-cpp-python failed: {done.stderr.strip()[-300:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float((result["tokens"] - 1) / result["seconds"])


def _events(path: Path, kind: str, after: int = 0) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines[after:]) if e["event"] == kind]


def _wait_for(path: Path, kind: str, count: int, app: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = _events(path, kind)
        if len(found) >= count:
            return found[count - 1]
        if app.poll() is not None:
            raise R1ChatError(f"the app ended before '{kind}' (exit {app.returncode})")
        time.sleep(0.05)
    raise R1ChatError(f"the app did not reach '{kind}' within {WAIT_SECONDS} s")


def _app_run(
    home: Path,
    model: Path | str,
    threads: int | None,
    press_esc: bool,
    model_args: list[str] | None = None,
    turns: int = 1,
) -> AppRun:
    """Start the app on a terminal, send the prompt, let it answer (or press Esc), quit;
    with `turns`, send it that many times in the same launch.

    `model_args` replaces `--model MODEL` (for example `--remote URL`).
    """
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"threads = {threads}"] if threads else []
    lines += ["[generation]", f"max_tokens = {TOKENS}", "temperature = 0.0", f"seed = {SEED}"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = home / "report.jsonl"
    report.unlink(missing_ok=True)
    terminal = Terminal()
    environment = {
        **os.environ,
        "R1CHAT_HOME": str(home),
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "COLUMNS": str(SIZE[0]),
        "LINES": str(SIZE[1]),
    }
    app = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _APP_SCRIPT,
            str(report),
            str(STOP_AFTER_TOKENS),
            *(model_args or ["--model", str(model)]),
        ],
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        env=environment,
        start_new_session=True,
    )
    finished: list[float] = []
    try:
        ready = _wait_for(report, "ready", 1, app)
        time.sleep(0.5)  # the first context measure settles
        for turn in range(1, turns):
            terminal.type("\x1b[200~" + PROMPT + "\x1b[201~")
            time.sleep(0.2)
            terminal.type("\r")
            finished.append(_wait_for(report, "reply", turn, app)["time"])
            time.sleep(0.5)
        terminal.type("\x1b[200~" + PROMPT + "\x1b[201~")
        time.sleep(0.2)
        terminal.type("\r")
        stop_seconds = typed_seconds = None
        if press_esc:
            _wait_for(report, "generating", 1, app)
            typed_seconds = _typing_echo(terminal)
            terminal.type("\x7f" * len(TYPED))  # the box is empty again: Esc stops the reply
            time.sleep(0.1)
            terminal.watch()
            pressed = time.perf_counter()
            terminal.type("\x1b")
            shown = terminal.arrival(
                STOPPED_MARK, 10, "the app did not show the reply stopped within 10 s"
            )
            stop_seconds = shown - pressed
        counters = _wait_for(report, "reply", turns, app)
        finished.append(counters["time"])
        time.sleep(0.3)
        terminal.type("\x11")  # Ctrl+Q
        app.wait(timeout=30)
    finally:
        _end(app)
        terminal.close()
    tokens_per_second, tokens, server = _saved_speed(home)
    return AppRun(
        server or tokens_per_second,
        tokens,
        counters["ui_cpu"],
        counters["frames_per_second"],
        stop_seconds,
        typed_seconds,
        ready.get("threads"),
        finished,
        process_cpu=counters.get("process_cpu", 0.0),
    )


def _typing_echo(terminal: Terminal) -> float:
    """Seconds from keys typed (one by one, as a person does) to their echo on screen."""
    terminal.watch()
    pressed = time.perf_counter()
    for key in TYPED:
        terminal.type(key)
    shown = terminal.arrival(TYPED.encode(), 10, "the app did not show typed keys within 10 s")
    return shown - pressed


def launch_seconds(home: Path, model: Path) -> tuple[float, float]:
    """Start `r1chat` as a user does (its model set in config.toml, no arguments) on a
    terminal: seconds to the first screen with the message box, and to the model loaded."""
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"model = {json.dumps(str(model))}\n", encoding="utf-8")
    terminal = Terminal()
    environment = {**os.environ, "R1CHAT_HOME": str(home), "TERM": "xterm-256color"}
    terminal.watch()
    started = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, "-m", "r1chat"],
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        env=environment,
        start_new_session=True,
    )
    try:
        ready = terminal.arrival(
            IDLE_MARK, WAIT_SECONDS, "the app did not load its model in a terminal", app
        )
        screen = terminal.seen(COMPOSER_MARK)
        if screen is None:
            raise R1ChatError("the app loaded its model without showing the message box")
        terminal.type("\x11")  # Ctrl+Q
        app.wait(timeout=30)
    finally:
        _end(app)
        terminal.close()
    return screen - started, ready - started


def _end(app: subprocess.Popen[bytes]) -> None:
    """Kill what is left of an app started in a session of its own: the crash guard and
    the app it forked."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(app.pid, signal.SIGKILL)
    app.wait()


def _saved_speed(home: Path) -> tuple[float, int, float | None]:
    """The newest reply's generation speed as the app saved it, and the server's own."""
    with sqlite3.connect(home / "data" / "chats.db") as db:
        row = db.execute(
            "SELECT stats FROM messages WHERE role = 'assistant' ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
    stats = json.loads(row[0])
    server = stats.get("server_tokens_per_second")
    return (
        float(stats["tokens_per_second"]),
        int(stats["completion_tokens"]),
        float(server) if server else None,
    )


def thread_counts(default: int) -> list[int]:
    """1, 2, 4 … up to the CPUs this process may use, and the default among them."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    counts = {default}
    count = 1
    while count <= available:
        counts.add(count)
        count *= 2
    counts.add(available)
    return sorted(counts)


def terminal_figures(model: Path, model_name: str, prompt: str, n_ctx: int) -> Figures:
    """Alternate the app in a terminal with bare llama-cpp-python, then time Esc."""
    choice = default_threads()
    figures = Figures(model_name, choice.threads, choice.why)
    counts = thread_counts(choice.threads)
    with tempfile.TemporaryDirectory(prefix="r1chat-bench-tty-") as root:
        for round_index in range(ROUNDS):
            for threads in counts:
                figures.bare.setdefault(threads, []).append(_bare(model, threads, prompt, n_ctx))
            home = Path(root) / f"round-{round_index}"
            figures.app.append(_app_run(home, model, None, press_esc=False))
        for index in range(ROUNDS):
            run = _app_run(Path(root) / f"esc-{index}", model, None, press_esc=True)
            assert run.stop_seconds is not None and run.typed_seconds is not None
            figures.stops.append(run.stop_seconds)
            figures.typed.append(run.typed_seconds)
        home = Path(root) / "launch"
        launch_seconds(home, model)  # the first start on a CPU checks the llama.cpp build
        figures.launches += [launch_seconds(home, model) for _ in range(ROUNDS)]
    return figures


def print_terminal_figures(report: dict[str, Any]) -> None:
    """The terminal table of `bench ui`."""
    bare = report["bare_tokens_per_second"]
    default = report["default_threads"]
    print(
        f"r1chat bench ui: the app in a {report['size']} pseudo-terminal against bare "
        f"llama-cpp-python in its own process ({report['model']}, {report['tokens']} tokens, "
        f"medians of {report['rounds']} alternating rounds)"
    )
    for threads, speed in sorted(bare.items(), key=lambda item: int(item[0])):
        mark = " (default)" if int(threads) == default else ""
        print(f"  bare, {threads} thread{'s' if int(threads) > 1 else ''}{mark}: {speed:.1f} tok/s")
    print(
        f"  the app, default settings: {report['app_tokens_per_second']:.1f} tok/s, "
        f"{report['app_over_bare']:.3f}× bare at the same thread count"
    )
    print(
        f"  default threads: {default} ({report['default_threads_why']}); best measured: "
        f"{report['best_threads']}, default at {report['default_over_best']:.3f}× the best"
    )
    print(
        f"  UI thread while streaming: {report['ui_thread_cores']:.3f} of a core, "
        f"{report['frames_per_second']:.1f} frames/s"
    )
    stops = ", ".join(f"{ms:.0f}" for ms in report["esc_to_stopped_ms"])
    print(f"  Esc to 'stopped' on screen: {stops} ms")
    typed = ", ".join(f"{ms:.0f}" for ms in report["typed_to_shown_ms"])
    print(f"  keys typed while a reply streams, to shown: {typed} ms")
    screens = ", ".join(f"{s:.2f}" for s in report["launch_to_screen_seconds"])
    models = ", ".join(f"{s:.2f}" for s in report["launch_to_model_seconds"])
    print(f"  `r1chat` to its first screen: {screens} s; to the model loaded: {models} s")


def bench_prompt(model: Path) -> tuple[str, str, int]:
    """The prompt as the app renders it, the model's display name, and the app's context size."""
    from r1chat.domain import ChatMessage
    from r1chat.engine.llama import LlamaEngine

    engine = LlamaEngine(model, vocab_only=True)
    try:
        text = engine.render([ChatMessage("user", PROMPT)]).text
        return text, engine.info.model_name, engine.n_ctx
    finally:
        engine.close()
