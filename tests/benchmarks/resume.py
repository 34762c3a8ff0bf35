"""Provides `r1chat bench --resume`: a long conversation continued in a fresh process, with
and without its saved llama.cpp context, against a one-line new chat."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from r1chat.errors import R1ChatError

TURNS = 36
"""Turns of about 80 tokens each: a history of about 2,000 tokens."""
ROUNDS = 3

_CHILD = """
import json, sys, time
from pathlib import Path
from tests.benchmarks.resume import child
print(json.dumps(child(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])))
"""


def conversation() -> list[Any]:
    from r1chat.domain import ChatMessage

    turns = []
    for index in range(TURNS):
        turns.append(
            ChatMessage("user", f"Tell me about lighthouse number {index} and its keeper.")
        )
        turns.append(
            ChatMessage(
                "assistant",
                f"Lighthouse {index} stands on a rocky point; its keeper trims the wick at dusk, "
                "logs the weather, and watches the ships pass through the night.",
            )
        )
    return turns


def child(model: Path, cache_folder: Path, kind: str) -> dict[str, float]:
    """In a fresh process: load the model, send one prompt, time its first token."""
    from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
    from r1chat.engine.events import Finished
    from r1chat.engine.kv_cache import StateCache
    from r1chat.engine.llama import LlamaEngine

    cache = StateCache(cache_folder) if kind in ("save", "cached") else None
    engine = LlamaEngine(model, n_ctx=4096, state_cache=cache)
    params = GenerationParams(max_tokens=4, temperature=0.0, seed=1)
    if kind == "new":
        messages = [ChatMessage("user", "Hello!")]
    else:
        messages = [*conversation(), ChatMessage("user", "Which one was the tallest?")]
        if kind == "save":  # the earlier session: ends with the history's last turn
            messages = conversation()[:-1]
    stats = None
    for event in engine.stream(ChatRequest(tuple(messages), params)):
        if isinstance(event, Finished):
            stats = event.stats
    engine.close()
    assert stats is not None
    return {
        "first_token": float(stats.time_to_first_token or 0.0),
        "prompt_tokens": float(stats.prompt_tokens),
        "restored": float(engine.restored_tokens),
    }


def _run(model: Path, folder: Path, kind: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model), str(folder), kind],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise R1ChatError(f"the resume bench's child failed: {done.stderr.strip()[-300:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_resume_bench(model: Path, json_output: bool) -> None:
    """Save the conversation's context once, then alternate the three kinds of start."""
    runs: dict[str, list[dict[str, float]]] = {"cached": [], "uncached": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="r1chat-bench-resume-") as root:
        folder = Path(root) / "contexts"
        _run(model, folder, "save")
        for _ in range(ROUNDS):
            for kind in runs:
                runs[kind].append(_run(model, folder, kind))
    first = {k: statistics.median(r["first_token"] for r in v) for k, v in runs.items()}
    report = {
        "model": str(model),
        "history_tokens": runs["uncached"][0]["prompt_tokens"],
        "restored_tokens": runs["cached"][0]["restored"],
        "first_token_seconds": first,
        "cached_over_new": first["cached"] / first["new"],
        "runs": runs,
    }
    if json_output:
        print(json.dumps(report, indent=2))
        return
    print(
        f"r1chat bench --resume: {model.name}, a {report['history_tokens']:,.0f}-token "
        f"conversation continued in a fresh process (medians of {ROUNDS})"
    )
    print(
        f"  with its saved context ({report['restored_tokens']:,.0f} tokens restored): "
        f"first token in {first['cached'] * 1000:,.0f} ms"
    )
    print(f"  reading it all again: {first['uncached'] * 1000:,.0f} ms")
    print(f"  a one-line new chat: {first['new'] * 1000:,.0f} ms")
    print(f"  saved context / new chat: {report['cached_over_new']:.2f}×")
