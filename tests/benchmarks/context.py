"""Provides the context-fitting benchmark (`r1chat bench context`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def fitting_figures(model: Path, sizes: tuple[int, ...] = (500, 2_000, 8_000)) -> dict[str, Any]:
    """Context fitting of long histories (about 60 tokens a message) into 8,192 tokens."""
    from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
    from r1chat.engine.llama import LlamaEngine

    engine = LlamaEngine(model, n_ctx=8192, vocab_only=True)
    rows = []
    for size in sizes:
        turns = [
            ChatMessage(
                "user" if index % 2 == 0 else "assistant",
                f"Message {index} of {size}: " + "a few words of ordinary chat " * 8,
            )
            for index in range(size)
        ]
        params = GenerationParams(max_tokens=1024)
        first = ChatRequest((*turns[:-1], ChatMessage("user", "What did we say?")), params)
        started = time.perf_counter()
        prepared = engine.prepare(first)
        cold = time.perf_counter() - started
        again = ChatRequest((*turns[:-1], ChatMessage("user", "And then?")), params)
        started = time.perf_counter()
        engine.prepare(again)
        warm = time.perf_counter() - started
        started = time.perf_counter()
        engine.tokenize(prepared.prompt.text)
        one = time.perf_counter() - started
        rows.append(
            {
                "messages": size,
                "first_seconds": cold,
                "after_first_seconds": warm,
                "one_prompt_tokenize_seconds": one,
                "prompt_tokens": len(prepared.tokens),
                "dropped_messages": prepared.dropped_messages,
            }
        )
    name = engine.info.model_name
    engine.close()
    return {"model": name, "n_ctx": 8192, "rows": rows}
