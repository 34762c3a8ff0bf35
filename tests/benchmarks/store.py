"""Provides `r1chat bench store`: time list, open and search on a large generated store."""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from r1chat.errors import R1ChatError
from r1chat.store.chats import ChatStore
from r1chat.store.ids import new_id
from r1chat.store.search import search
from r1chat.store.usage import natural_grouping, usage_report

# A small vocabulary drawn with a Zipf-like skew, so some words are common and some rare.
_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "it",
    "for",
    "on",
    "with",
    "as",
    "was",
    "be",
    "by",
    "this",
    "are",
    "or",
    "at",
    "from",
    "have",
    "an",
    "not",
    "which",
    "but",
    "all",
    "were",
    "when",
    "we",
    "there",
    "can",
    "more",
    "if",
    "has",
    "their",
    "will",
    "one",
    "about",
    "would",
    "so",
    "out",
    "up",
    "what",
    "its",
    "into",
    "than",
    "them",
    "only",
    "other",
    "new",
    "some",
    "could",
    "time",
    "these",
    "two",
    "may",
    "then",
    "first",
    "any",
    "model",
    "token",
    "reasoning",
    "answer",
    "python",
    "function",
    "error",
    "result",
    "value",
    "number",
    "light",
    "energy",
    "water",
    "system",
    "memory",
    "vector",
    "matrix",
    "kernel",
    "server",
    "request",
    "thread",
    "process",
    "network",
    "graph",
    "theorem",
    "proof",
    "prime",
    "integer",
    "sequence",
    "limit",
    "derivative",
    "integral",
    "gradient",
    "tensor",
    "layer",
    "rayleigh",
    "scattering",
    "wavelength",
    "photon",
    "quantum",
    "entropy",
    "galaxy",
    "protein",
    "enzyme",
    "genome",
    "lighthouse",
    "keeper",
    "bottle",
    "harbor",
    "storm",
    "sailor",
    "compass",
    "glacier",
    "volcano",
    "meadow",
    "orchard",
]
_WEIGHTS = [1 / (rank + 1) for rank in range(len(_WORDS))]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(_WORDS, _WEIGHTS, k=words)).capitalize() + "."


def _reply_stats(rng: random.Random) -> str:
    """A reply's stats as the app saves them: tokens, times and speed."""
    reasoning, answer = rng.randint(100, 1500), rng.randint(50, 600)
    speed = rng.uniform(8, 40)
    return json.dumps(
        {
            "finish_reason": "stop",
            "prompt_tokens": rng.randint(20, 6000),
            "reasoning_tokens": reasoning,
            "answer_tokens": answer,
            "time_to_first_token": rng.uniform(0.2, 4.0),
            "reasoning_seconds": reasoning / speed,
            "generation_seconds": (reasoning + answer) / speed,
            "tokens_per_second": speed,
        }
    )


def _usage_screen(store: ChatStore) -> None:
    """What opening the usage screen does off the UI thread (the report), and the three
    plots drawn from it at 120x40."""
    from textual_plotext import Plot

    report = usage_report(store, by=natural_grouping(store))
    periods = sorted({entry.period for entry in report.periods})
    figure = Plot()
    figure.plotsize(110, 30)
    totals = [sum(e.usage.written for e in report.periods if e.period == p) for p in periods]
    figure.bar(list(range(len(periods))), totals)
    figure.build()


def build(path: Path, conversations: int, messages: int, big: int, seed: int = 7) -> str:
    """Fill a new store; return the id of its one long conversation."""
    rng = random.Random(seed)
    store = ChatStore(path)
    db = store.connection
    start = time.time() - 365 * 86400
    conversation_ids = [new_id(start + i * 60) for i in range(conversations)]
    big_id = conversation_ids[-1]
    per_conversation = max(1, (messages - big) // max(1, conversations - 1))
    with store.transaction():
        db.executemany(
            "INSERT INTO conversations (id, title, created_at, updated_at, model, params) "
            "VALUES (?, ?, ?, ?, 'DeepSeek R1 Distill Qwen 7B', '{}')",
            (
                (cid, _sentence(rng, 6)[:-1], start + i * 60, start + i * 60 + 30)
                for i, cid in enumerate(conversation_ids)
            ),
        )
    written = 0

    def rows(conversation_id: str, count: int, base: float) -> Iterator[tuple[Any, ...]]:
        parent = None
        for index in range(count):
            user = index % 2 == 0
            message_id = new_id(base + index)
            yield (
                message_id,
                conversation_id,
                parent,
                "user" if user else "assistant",
                _sentence(rng, rng.randint(6, 20) if user else rng.randint(30, 90)),
                "" if user else _sentence(rng, rng.randint(20, 60)),
                "complete",
                None if user else _reply_stats(rng),
                base + index,
                base + index,
            )
            parent = message_id

    insert = (
        "INSERT INTO messages (id, conversation_id, parent_id, role, content, reasoning, "
        "status, stats, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    batch: list[tuple[Any, ...]] = []
    for index, conversation_id in enumerate(conversation_ids):
        count = big if conversation_id == big_id else per_conversation
        count = min(count, messages - written)
        batch.extend(rows(conversation_id, count, start + index * 60))
        written += count
        if len(batch) >= 50_000 or conversation_id == big_id:
            with store.transaction():
                db.executemany(insert, batch)
            batch = []
    store.close()
    return big_id


def _time(action: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of `action` in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run_store_bench(
    conversations: int, messages: int, big: int, folder: Path | None, json_output: bool
) -> None:
    """Build the store, then time the operations users wait on."""
    if not 1 <= big <= messages or conversations < 1:
        raise R1ChatError("Use --conversations 1 or more, and --big from 1 to --messages.")
    root = Path(tempfile.mkdtemp(prefix="r1chat-bench-", dir=folder))
    path = root / "chats.db"
    try:
        started = time.perf_counter()
        big_id = build(path, conversations, messages, big)
        build_seconds = time.perf_counter() - started
        store = ChatStore(path)
        results = {
            "list 30 newest": _time(lambda: store.list_conversations(limit=30)),
            f"open the {big:,}-message conversation": _time(lambda: store.conversation(big_id)),
            "search a rare word (glacier)": _time(lambda: search(store, "glacier")),
            "search a common word (model)": _time(lambda: search(store, "model")),
            "search as you type in the app (glaci…)": _time(
                lambda: search(store, "glaci", prefix=True)
            ),
            'search a phrase ("prime integer")': _time(lambda: search(store, '"prime integer"')),
            "search two words with --thinking": _time(
                lambda: search(store, "photon entropy", thinking=True)
            ),
            "stats: per model and week, medians": _time(
                lambda: usage_report(store, by=natural_grouping(store))
            ),
            "open the usage screen (report and plot)": _time(lambda: _usage_screen(store)),
        }
        size = os.path.getsize(path)
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report = {
        "conversations": conversations,
        "messages": messages,
        "build_seconds": build_seconds,
        "database_bytes": size,
        "cpus": os.cpu_count(),
        "median_ms": results,
    }
    if json_output:
        print(json.dumps(report, indent=2))
        return
    print(
        f"r1chat bench store: {conversations:,} conversations, {messages:,} messages "
        f"({size / 1e6:,.0f} MB, built in {build_seconds:,.0f} s, {os.cpu_count()} CPUs); "
        "median of 5"
    )
    for name, value in results.items():
        print(f"  {name:<40} {value:8.1f} ms")
