"""Provides `r1chat bench ui`: how fast the chat app streams, starts and opens long chats."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1chat.config import Settings
from r1chat.domain import GenerationParams
from r1chat.engine.base import Engine
from r1chat.paths import Paths
from tests.benchmarks.headless import headless_app, wait_for
from tests.scripted import Script, ScriptedEngine

if TYPE_CHECKING:
    pass

SIZE = (120, 40)
REAL_TOKENS, REAL_ROUNDS = 256, 5
"""Real-model rounds: a small model answers 128 tokens in under a second, too short to
compare speeds without the machine's noise deciding."""


def bench_reply(tokens: int) -> str:
    """A reply of about `tokens` 4-character pieces: reasoning, then Markdown with code."""
    reasoning = ("Let me think about this step by step and check each case. " * 400)[: tokens * 2]
    parts: list[str] = []
    index = 0
    while sum(len(p) for p in parts) < tokens * 2:
        index += 1
        parts.append(
            f"## Step {index}\n\nHere is **part {index}** of the answer, with `inline code` "
            "and a list:\n\n- first point\n- second point\n\n```python\n"
            f"def step_{index}(x):\n    return x * {index}\n```\n\n"
        )
    return f"<think>\n{reasoning}\n</think>\n\n" + "".join(parts)[: tokens * 2]


async def _stream(
    home: Path, engine: Engine, prompt: str, settings: Settings | None = None
) -> dict[str, Any]:
    """Send one prompt; time the reply from the first token to the last text on screen."""
    from r1chat.ui.screens.chat import ChatScreen
    from r1chat.ui.widgets.messages import AssistantMessage

    app, store = headless_app(home, engine, settings)
    result: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, ChatScreen), pilot)
        screen = app.screen
        await wait_for(lambda: screen.engine is not None, pilot)
        screen.composer.text = prompt
        screen.composer.focus()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        await pilot.press("enter")
        await wait_for(lambda: bool(screen.conversation.query(AssistantMessage)), pilot)
        reply = screen.conversation.query_one(AssistantMessage)
        await wait_for(lambda: not reply.streaming, pilot, timeout=600)
        wall_end, cpu_end = time.perf_counter(), time.process_time()
        stats = screen.session.last_reply.stats if screen.session.last_reply else None
        assert stats is not None
        result = {
            "tokens": stats.completion_tokens,
            "engine_tokens_per_second": stats.tokens_per_second,
            "seconds": wall_end - wall_start,
            "cpu_cores": (cpu_end - cpu_start) / (wall_end - wall_start),
            "on_screen_complete": reply.answer == (screen.session.last_reply.answer or "")
            and reply.answer_view.source == reply.answer,
            "time_to_first_token": stats.time_to_first_token,
        }
        if stats.generation_seconds:
            # From the first token to the moment the last text was on screen.
            shown = wall_end - wall_start - (stats.time_to_first_token or 0)
            result["ui_tokens_per_second"] = stats.completion_tokens / shown
    store.close()
    return result


async def _open_long(home: Path, messages: int) -> float:
    from r1chat.ui.screens.chat import ChatScreen
    from tests.benchmarks.stall import seed_long_chat

    paths = Paths.from_env({"R1CHAT_HOME": str(home)})
    conversation_id = seed_long_chat(paths, messages)
    engine = ScriptedEngine([Script("ok")])
    app, store = headless_app(home, engine)
    samples = []
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: isinstance(app.screen, ChatScreen), pilot)
        screen = app.screen
        await wait_for(lambda: screen.engine is not None, pilot)
        from r1chat.ui.widgets.messages import AssistantMessage

        for _ in range(5):
            await screen.action_new_chat()
            await pilot.pause()
            started = time.perf_counter()
            await screen.open(conversation_id).wait()
            await pilot.pause()  # mounted, laid out and painted
            samples.append(time.perf_counter() - started)
            last = screen.conversation.query(AssistantMessage).last()
            assert last.answer_view.children, "the newest answer was not rendered"
    import statistics

    elapsed = statistics.median(samples)
    store.close()
    return elapsed


_START_SCRIPT = """
import asyncio, sys, time
from tests.benchmarks.ui import _startup_child
asyncio.run(_startup_child(sys.argv[1]))
"""


async def _startup_child(home: str) -> None:
    from r1chat.ui.screens.chat import ChatScreen

    engine = ScriptedEngine([Script("ok")])
    app, store = headless_app(Path(home), engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            lambda: isinstance(app.screen, ChatScreen) and app.screen.composer.has_focus, pilot
        )
        print(f"INTERACTIVE {time.time():.6f}", flush=True)
    store.close()


def _startup_seconds(home: Path) -> float:
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", _START_SCRIPT, str(home)], capture_output=True, text=True, check=True
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("INTERACTIVE "))
    return float(line.split()[1]) - started


def run_ui_bench(model: str | None, tokens: int, json_output: bool) -> None:
    """Measure the app in a terminal against bare llama-cpp-python, then headless, in one run."""
    from tests.benchmarks.stall import print_stall_figures, stall_figures

    report: dict[str, Any] = {"cpus": os.cpu_count()}
    report["terminal"] = _terminal(model)
    with tempfile.TemporaryDirectory(prefix="r1chat-bench-ui-") as root:
        base = Path(root)
        script = bench_reply(tokens)
        fast = ScriptedEngine([Script(script, tokens_per_second=0)])
        report["max_speed"] = asyncio.run(_stream(base / "fast", fast, "Go as fast as you can"))
        fast.close()
        steady = ScriptedEngine([Script(script, tokens_per_second=300)])
        report["at_300"] = asyncio.run(_stream(base / "steady", steady, "Stream at 300 tok/s"))
        steady.close()
        report["open_1000_messages_seconds"] = asyncio.run(_open_long(base / "long", 1000))
        report["start_to_interactive_seconds"] = _startup_seconds(base / "start")
        report["stalls"] = stall_figures(base / "stalls")
        report["real_model"] = _real_model(base / "real", model)
    if json_output:
        print(json.dumps(report, indent=2))
        return
    if report["terminal"] is not None:
        from tests.benchmarks.terminal import print_terminal_figures

        print_terminal_figures(report["terminal"])
        print()
    fast_run, slow_run = report["max_speed"], report["at_300"]
    print(
        f"Headless (the app in-process on Textual's test driver, {SIZE[0]}x{SIZE[1]}, "
        f"{report['cpus']} CPUs)"
    )
    print(
        f"  scripted, as fast as it can: {fast_run['tokens']:,} tokens produced at "
        f"{fast_run['engine_tokens_per_second']:,.0f} tok/s, on screen at "
        f"{fast_run['ui_tokens_per_second']:,.0f} tok/s "
        f"(complete: {fast_run['on_screen_complete']})"
    )
    print(
        f"  scripted at 300 tok/s: {slow_run['tokens']:,} tokens, process CPU "
        f"{slow_run['cpu_cores']:.2f} of one core"
    )
    real = report["real_model"]
    if real:
        print(
            f"  {real['model']}: {real['tui_tokens_per_second']:.1f} tok/s in the app, "
            f"{real['raw_tokens_per_second']:.1f} raw in the same process, "
            f"ratio {real['ratio']:.3f}"
        )
    print(f"  start to interactive screen: {report['start_to_interactive_seconds']:.2f} s")
    print(
        f"  open a 1,000-message conversation: {report['open_1000_messages_seconds'] * 1000:.0f} ms"
    )
    print_stall_figures(report["stalls"])


def _terminal(model: str | None) -> dict[str, Any] | None:
    """The app in a pseudo-terminal against bare llama-cpp-python; `None` without a model."""
    from r1chat.config import load_settings
    from r1chat.errors import ModelError
    from r1chat.models.discovery import choose_model

    if sys.platform == "win32":
        print("The terminal figures need a POSIX pseudo-terminal; showing headless figures only.")
        return None
    from tests.benchmarks.terminal import bench_prompt, terminal_figures

    paths = Paths.from_env()
    try:
        choice = choose_model(load_settings(paths), paths, model)
    except ModelError:
        return None
    prompt, name, n_ctx = bench_prompt(choice.path)
    return terminal_figures(choice.path, name, prompt, n_ctx).as_dict()


def _real_model(home: Path, model: str | None) -> dict[str, Any] | None:
    """Generation speed in the app against raw llama-cpp-python, same model, same run."""
    from r1chat.config import load_settings
    from r1chat.domain import ChatMessage, ChatRequest
    from r1chat.engine.llama import LlamaEngine
    from r1chat.errors import ModelError
    from r1chat.models.build_check import BuildChecks
    from r1chat.models.discovery import choose_model
    from tests.benchmarks.engine import BENCH_PROMPT, _raw_run_on

    paths = Paths.from_env()
    try:
        choice = choose_model(load_settings(paths), paths, model)
    except ModelError:
        return None
    engine = LlamaEngine(
        choice.path,
        log_path=paths.llama_log_file,
        build_checks=BuildChecks(paths.build_checks_file),
    )
    if engine.notice:
        print(f"r1chat: {engine.notice}", file=sys.stderr)
    params = GenerationParams(max_tokens=REAL_TOKENS, temperature=0.0, seed=1234)
    request = ChatRequest((ChatMessage("user", BENCH_PROMPT),), params)
    tokens = engine.prepare(request).tokens
    _raw_run_on(engine, tokens, 8)  # warm-up
    raw_speeds = []
    tui_speeds = []
    settings = Settings(
        generation=GenerationParams(max_tokens=REAL_TOKENS, temperature=0.0, seed=1234)
    )
    for round_index in range(REAL_ROUNDS):
        raw, _ = _raw_run_on(engine, tokens, REAL_TOKENS)
        raw_speeds.append(raw.generation_tokens_per_second)
        engine._llm.reset()
        result = asyncio.run(_stream(home / str(round_index), engine, BENCH_PROMPT, settings))
        tui_speeds.append(result["engine_tokens_per_second"])
    engine.close()
    import statistics

    raw_speed, tui_speed = statistics.median(raw_speeds), statistics.median(tui_speeds)
    return {
        "model": engine.info.model_name,
        "raw_tokens_per_second": raw_speed,
        "tui_tokens_per_second": tui_speed,
        "ratio": tui_speed / raw_speed,
    }
