"""Provides `r1chat bench chats`: show, export, import and open a very long chat, at two
sizes, to see that each grows linearly with the chat (and how long each takes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from r1chat.paths import Paths
from r1chat.store.chats import ChatStore
from tests.benchmarks.stall import seed_long_chat

STEPS = ("open", "show", "show --json", "export", "import")


def _r1chat(home: Path, *args: str) -> float:
    """Seconds `r1chat ARGS` takes with `home` as its home (its output thrown away)."""
    env = {**os.environ, "R1CHAT_HOME": str(home), "R1CHAT_NO_GUARD": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "r1chat", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"r1chat {' '.join(args)} failed: {done.stderr.strip()[-300:]}")
    return time.perf_counter() - started


def time_one_size(messages: int) -> dict[str, Any]:
    """Seconds for each step on one chat of `messages` messages."""
    with tempfile.TemporaryDirectory(prefix="r1chat-bench-chats-") as folder:
        home, other = Path(folder) / "home", Path(folder) / "other"
        chat_id = seed_long_chat(Paths.from_env({"R1CHAT_HOME": str(home)}), messages)
        store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
        started = time.perf_counter()
        opened = store.conversation(chat_id)  # what the app reads to open it
        seconds = {"open": time.perf_counter() - started}
        store.close()
        assert len(opened.messages) == messages
        seconds["show"] = _r1chat(home, "show", chat_id)
        seconds["show --json"] = _r1chat(home, "show", chat_id, "--json")
        exported = Path(folder) / "chat.json"
        seconds["export"] = _r1chat(
            home, "export", chat_id, "--format", "json", "-o", str(exported)
        )
        seconds["import"] = _r1chat(other, "import", str(exported))
    return {"messages": messages, "seconds": seconds}


def run_chats_bench(small: int, large: int, json_output: bool) -> None:
    """Time both sizes and print each step's seconds and how it grew."""
    rows = [time_one_size(small), time_one_size(large)]
    if json_output:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"r1chat bench chats: one chat of {small:,} and of {large:,} messages "
        f"({os.cpu_count()} CPUs; each command in its own process, start-up included)"
    )
    grown = large / small
    for step in STEPS:
        a, b = rows[0]["seconds"][step], rows[1]["seconds"][step]
        print(f"  {step:<12} {a:6.2f} s → {b:6.2f} s  (×{b / a:.1f} for ×{grown:.0f} the messages)")
