"""Provides `r1chat bench --remote URL`: a server's speed through r1chat against a bare client.

Three runs alternate on the same request (the bench prompt, greedy, the same token
count): a bare streaming client (httpx and httpx-sse, nothing else), r1chat's
`RemoteEngine`, and the chat app itself in a pseudo-terminal for two turns, which shows
whether rendering the stream slows the server down; then the bare client sends the app's
own second request. All go through a timing proxy in front of the server, and every
speed is read from the times tokens passed it.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.events import Finished
from r1chat.engine.remote import Endpoint, RemoteEngine, chat_stream
from r1chat.errors import R1ChatError
from tests.benchmarks.engine import BENCH_PROMPT, SEED


def bare_client(endpoint: Endpoint, body: dict[str, Any]) -> None:
    """Stream one reply as a plain client does: read the events to the end, nothing else
    (the proxy times them)."""
    with chat_stream(endpoint, body) as source:
        source.response.raise_for_status()
        for event in source.iter_sse():
            if event.data.strip() == "[DONE]":
                break


def engine_run(engine: RemoteEngine, request: ChatRequest) -> None:
    """The same through `RemoteEngine` (thread, queue, splitter, statistics)."""
    for event in engine.stream(request, threading.Event()):
        if isinstance(event, Finished) and event.stats.finish_reason == "error":
            raise R1ChatError(event.stats.error or "the reply failed")


def run_remote_bench(
    url: str, model: str | None, tokens: int, rounds: int, json_output: bool
) -> None:
    """Alternate a bare client, the engine and the app (two turns of one launch), all
    through a timing proxy; print medians and ratios."""
    report = remote_report(url, model, tokens, rounds)
    if json_output:
        print(json.dumps(report, indent=2))
        return
    print(remote_table(report))


def remote_report(url: str, model: str | None, tokens: int, rounds: int) -> dict[str, Any]:
    """The figures of `bench --remote`."""
    from tests.benchmarks import terminal
    from tests.benchmarks.proxy import TimingProxy, speed

    if tokens < 8 or rounds < 1:
        raise R1ChatError("Use --tokens 8 or more and --rounds 1 or more.")
    server = Endpoint.parse(url, model)
    proxy = TimingProxy(server.url)
    path = httpx.URL(server.url).path.rstrip("/")
    endpoint = Endpoint.parse(proxy.url + path, model)
    engine = RemoteEngine(endpoint)
    request = ChatRequest(
        (ChatMessage("user", BENCH_PROMPT),),
        GenerationParams(max_tokens=tokens, temperature=0.0, seed=SEED),
    )
    body = engine._body(request, engine.messages(request, engine.plan(request)), None)
    terminal.TOKENS = tokens
    runs: dict[str, list[float]] = {
        "bare": [],
        "engine": [],
        "app": [],
        "app_second": [],
        "bare_second": [],
    }
    finish: list[float] = []
    ui_cpu: list[float] = []
    process_cpu: list[float] = []

    def passed() -> list[float]:
        return proxy.replies[-1] if proxy.replies else []

    with tempfile.TemporaryDirectory(prefix="r1chat-bench-remote-") as root:
        for index in range(rounds):
            bare_client(endpoint, body)
            runs["bare"].append(speed(passed()))
            engine_run(engine, request)
            runs["engine"].append(speed(passed()))
            before = len(proxy.replies)
            app = terminal._app_run(
                Path(root) / f"app-{index}",
                endpoint.url,
                None,
                press_esc=False,
                model_args=["--remote", endpoint.url, "--remote-model", engine.model],
                turns=2,
            )
            turns = proxy.replies[before:]
            if len(turns) < 2 or len(app.finished_at) < 2:
                raise R1ChatError("The app did not stream two replies through the proxy.")
            runs["app"].append(speed(turns[0]))
            runs["app_second"].append(speed(turns[1]))
            # The second turn's prompt holds the first: the bare client sends the very
            # request the app sent for it, so both make the server do the same work.
            second = proxy.asked[before + 1]
            if second is None:
                raise R1ChatError("The app's second request reached the proxy without a body.")
            bare_client(endpoint, json.loads(second))
            runs["bare_second"].append(speed(passed()))
            finish += [
                shown - stamps[-1] for shown, stamps in zip(app.finished_at, turns[:2], strict=True)
            ]
            ui_cpu.append(app.ui_cpu)
            process_cpu.append(app.process_cpu)
    engine.close()
    proxy.close()
    medians = {name: statistics.median(values) for name, values in runs.items()}
    report = {
        "url": server.url,
        "model": engine.model,
        "tokens": tokens,
        "rounds": rounds,
        "tokens_per_second": medians,
        "engine_over_bare": medians["engine"] / medians["bare"],
        "app_over_bare": medians["app"] / medians["bare"],
        "app_second_over_bare": medians["app_second"] / medians["bare_second"],
        "last_token_to_finished_seconds": statistics.median(finish),
        "ui_thread_cores": statistics.median(ui_cpu),
        "app_process_cores": statistics.median(process_cpu),
        "runs": runs,
    }
    return report


def remote_table(report: dict[str, Any]) -> str:
    """The remote figures as `bench --remote` prints them."""
    medians = report["tokens_per_second"]
    lines = [
        f"r1chat bench --remote: {report['model']} at {report['url']}, {report['tokens']} "
        f"tokens, medians of {report['rounds']} alternating rounds, speeds from the times "
        "tokens passed a proxy in front of the server",
    ]
    for name, label in (
        ("bare", "bare client"),
        ("engine", "r1chat engine"),
        ("app", "the app in a terminal, 1st turn"),
        ("app_second", "the app in a terminal, 2nd turn"),
        ("bare_second", "bare client, the app's 2nd request"),
    ):
        lines.append(f"  {label:34} {medians[name]:8.1f} tok/s")
    lines += [
        f"  engine/bare {report['engine_over_bare']:.3f}, app/bare "
        f"{report['app_over_bare']:.3f} (1st turn), {report['app_second_over_bare']:.3f} (2nd)",
        f"  last token through the proxy to the reply shown finished: "
        f"{report['last_token_to_finished_seconds'] * 1000:.0f} ms; UI thread "
        f"{report['ui_thread_cores']:.3f} of a core while streaming, the whole app "
        f"{report['app_process_cores']:.3f}",
    ]
    return "\n".join(lines)
