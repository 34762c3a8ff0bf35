"""Instant resume: llama.cpp's context saved on disk when a reply ends and read back by a
fresh engine (as a new process would), on real SmolLM2 — same greedy text, a fraction of
the prompt read, and damaged or foreign files ignored and removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.events import AnswerDelta, Finished, GenerationStats, ReasoningDelta
from r1chat.engine.kv_cache import GAIN_FROM, SAVE_FROM, StateCache, model_key
from r1chat.engine.llama import LlamaEngine

GREEDY = GenerationParams(max_tokens=24, temperature=0, seed=1)


def history(turns: int) -> list[ChatMessage]:
    messages = []
    for index in range(turns):
        messages.append(ChatMessage("user", f"Tell me fact {index} about lighthouses, please."))
        messages.append(ChatMessage("assistant", f"Fact {index}: lighthouses guide ships. " * 6))
    return messages


def reply(engine: LlamaEngine, messages: list[ChatMessage]) -> tuple[str, GenerationStats]:
    events = list(engine.stream(ChatRequest(tuple(messages), GREEDY)))
    text = "".join(e.text for e in events if isinstance(e, AnswerDelta | ReasoningDelta))
    assert isinstance(events[-1], Finished)
    return text, events[-1].stats


def engine(path: Path, tmp_path: Path, cache: StateCache | None) -> LlamaEngine:
    return LlamaEngine(path, n_ctx=2048, log_path=tmp_path / "llama.log", state_cache=cache)


@pytest.mark.slow
def test_a_fresh_engine_resumes_from_disk_with_the_same_greedy_text(smollm2_path, tmp_path):
    # The reference is the same conversation continued in the process that wrote the
    # context: its cache holds the reply's tokens as they were generated, one at a time.
    # (Reading those tokens again in one batch can round differently, so a run with no
    # saved context at all may pick another greedy path.)
    cache = StateCache(tmp_path / "kv")
    first_turns = [*history(8), ChatMessage("user", "And one more fact?")]
    writer = engine(smollm2_path, tmp_path, cache)
    try:
        answer, stats = reply(writer, first_turns)
        assert stats.prompt_tokens >= SAVE_FROM
        assert cache.info()[0] == 1  # saved when the reply ended
        follow = [*first_turns, ChatMessage("assistant", answer), ChatMessage("user", "Thanks!")]
        expected, in_memory = reply(writer, follow)
    finally:
        writer.close()
    for saved in (tmp_path / "kv").glob("*.state"):  # keep only the first reply's context
        if saved.stat().st_mtime_ns != min(
            p.stat().st_mtime_ns for p in (tmp_path / "kv").glob("*.state")
        ):
            saved.with_suffix(".tokens").unlink()
            saved.unlink()

    resumed = engine(smollm2_path, tmp_path, cache)  # a new process, as far as llama.cpp knows
    try:
        text, warm = reply(resumed, follow)
        restored = resumed.restored_tokens
    finally:
        resumed.close()
    assert text == expected  # token for token
    assert restored >= stats.prompt_tokens and warm.prompt_tokens == in_memory.prompt_tokens
    assert warm.prompt_tokens - restored < warm.prompt_tokens / 3  # only the new turn was read


@pytest.mark.slow
def test_damaged_or_foreign_files_are_ignored_and_removed(smollm2_path, tmp_path):
    cache = StateCache(tmp_path / "kv")
    turns = [*history(8), ChatMessage("user", "Go on.")]
    writer = engine(smollm2_path, tmp_path, cache)
    try:
        expected, _ = reply(writer, turns)
    finally:
        writer.close()
    (state,) = (tmp_path / "kv").glob("*.state")
    state.write_bytes(state.read_bytes()[:1000])  # cut short
    reader = engine(smollm2_path, tmp_path, cache)
    try:
        text, _ = reply(reader, turns)
        assert reader.restored_tokens == 0
    finally:
        reader.close()
    assert text == expected
    assert not state.exists() or state.stat().st_size > 1000  # removed (or saved anew)
    # Another model's (or another context size's) files are never used.
    assert model_key(smollm2_path, 2048) != model_key(smollm2_path, 4096)


def test_the_folder_stays_within_its_size_least_recently_used_first(tmp_path):
    cache = StateCache(tmp_path / "kv", max_bytes=2500)
    for index in range(4):
        tokens = list(range(index, index + SAVE_FROM + GAIN_FROM))
        cache.save("model", tokens, lambda path: path.write_bytes(b"x" * 1000) is not None)
    count, size = cache.info()
    assert count == 2 and size <= 2500
    newest = list(range(3, 3 + SAVE_FROM + GAIN_FROM))
    found = cache.best("model", [*newest, 7, 7, 7])
    assert found is not None and found.tokens == len(newest)
    assert cache.best("other-model", newest) is None
    assert cache.clear() == 2 and cache.info() == (0, 0)


@pytest.mark.parametrize("short", [SAVE_FROM - 1])
def test_short_contexts_are_not_worth_saving(tmp_path, short):
    cache = StateCache(tmp_path / "kv")
    assert cache.save("m", list(range(short)), lambda path: True) is None
    assert cache.info() == (0, 0)
