"""The llama.cpp engine on the real SmolLM2-135M model: streaming, stats, cancelling, fitting."""

from __future__ import annotations

import os
import threading

import pytest

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.base import Engine
from r1chat.engine.events import AnswerDelta, Finished, Progress, PromptPlan, ReasoningDelta
from r1chat.errors import R1ChatError
from r1chat.models.hardware import llama_backend

GREEDY = GenerationParams(max_tokens=24, temperature=0.0, seed=7)
STORY = "Write a long story about a dragon who learns to bake bread."


@pytest.fixture(autouse=True)
def no_drafting(request):
    """These tests compare greedy replies of one engine with each other. Prompt lookup
    drafts where its timings say it pays, and a drafted step may break a near tie the
    other way (docs/settings.md), so it is off here; test_prompt_lookup.py covers it."""
    if "smol_engine" not in request.fixturenames:
        yield
        return
    engine = request.getfixturevalue("smol_engine")
    was, engine.prompt_lookup = engine.prompt_lookup, False
    yield
    engine.prompt_lookup = was


def request(text: str, params: GenerationParams = GREEDY, history=()) -> ChatRequest:
    return ChatRequest((*history, ChatMessage("user", text)), params)


def collect(events) -> tuple[str, Finished]:
    answer, finished = [], []
    for event in events:
        if isinstance(event, AnswerDelta):
            answer.append(event.text)
        elif isinstance(event, Finished):
            finished.append(event)
        else:
            assert isinstance(event, ReasoningDelta | PromptPlan | Progress)
    assert len(finished) == 1
    return "".join(answer), finished[0]


def test_engine_implements_the_protocol(smol_engine):
    assert isinstance(smol_engine, Engine)
    info = smol_engine.info
    assert info.backend == llama_backend()  # whatever this build runs on (CPU here)
    assert not info.reasoning and info.n_ctx == 2048


def test_stream_answers_with_sane_stats(smol_engine):
    prepared = smol_engine.prepare(request("What is the capital of France? Answer briefly."))
    answer, finished = collect(
        smol_engine.stream(request("What is the capital of France? Answer briefly."))
    )
    stats = finished.stats
    assert "Paris" in answer
    assert stats.finish_reason in ("stop", "length")
    assert stats.prompt_tokens == len(prepared.tokens)
    assert 0 < stats.answer_tokens <= 24 and stats.reasoning_tokens == 0
    assert stats.completion_tokens == stats.answer_tokens
    assert stats.time_to_first_token is not None and stats.time_to_first_token > 0
    assert stats.tokens_per_second is not None and stats.tokens_per_second > 0
    assert stats.prompt_tokens_per_second is not None and stats.prompt_tokens_per_second > 0
    assert stats.reasoning_seconds is None and not stats.had_reasoning


def test_max_tokens_ends_with_length(smol_engine):
    _, finished = collect(
        smol_engine.stream(request(STORY, GenerationParams(max_tokens=5, temperature=0)))
    )
    assert finished.stats.finish_reason == "length"
    assert finished.stats.completion_tokens == 5


@pytest.mark.slow
def test_greedy_output_is_the_same_with_and_without_the_prompt_cache(smol_engine):
    first, _ = collect(smol_engine.stream(request(STORY)))
    second, _ = collect(smol_engine.stream(request(STORY)))  # whole prompt cached now
    smol_engine._llm.reset()
    third, _ = collect(smol_engine.stream(request(STORY)))  # nothing cached
    assert first == second == third and len(first) > 20


def test_cancel_mid_stream_stops_within_a_token_and_engine_stays_usable(smol_engine):
    cancel = threading.Event()
    events = smol_engine.stream(
        request(STORY, GenerationParams(max_tokens=200, temperature=0)), cancel
    )
    seen = 0
    finished = None
    for event in events:
        if isinstance(event, AnswerDelta):
            seen += 1
            if seen == 3:
                cancel.set()
        elif isinstance(event, Finished):
            finished = event
    assert finished is not None
    assert finished.stats.finish_reason == "cancelled"
    assert 3 <= finished.stats.completion_tokens <= 5  # stopped within about one token
    # Still usable, and the cut reply left no stale state behind.
    again, after = collect(smol_engine.stream(request(STORY)))
    smol_engine._llm.reset()
    fresh, _ = collect(smol_engine.stream(request(STORY)))
    assert after.stats.finish_reason in ("stop", "length") and again == fresh


def test_cancel_before_the_prompt_is_read(smol_engine):
    cancel = threading.Event()
    cancel.set()
    smol_engine._llm.reset()
    answer, finished = collect(smol_engine.stream(request(STORY), cancel))
    assert finished.stats.finish_reason == "cancelled"
    assert answer == "" and finished.stats.completion_tokens == 0


def test_leaving_the_stream_early_cancels_and_frees_the_engine(smol_engine):
    events = smol_engine.stream(request(STORY, GenerationParams(max_tokens=200, temperature=0)))
    for event in events:
        if isinstance(event, AnswerDelta):
            break
    events.close()  # what a `for` loop left by an exception does
    _, finished = collect(smol_engine.stream(request("Say hi.")))
    assert finished.stats.finish_reason in ("stop", "length")


def test_one_reply_at_a_time(smol_engine):
    cancel = threading.Event()
    events = smol_engine.stream(request(STORY, GenerationParams(max_tokens=200)), cancel)
    try:
        next(events)
        with pytest.raises(R1ChatError, match="still answering"):
            smol_engine.stream(request("hi"))
    finally:
        cancel.set()
        collect_rest = list(events)
        assert isinstance(collect_rest[-1], Finished)


@pytest.mark.slow
def test_long_history_is_fitted_to_a_small_context(smollm2_path, tmp_path):
    from r1chat.engine.llama import LlamaEngine

    engine = LlamaEngine(smollm2_path, n_ctx=256, log_path=tmp_path / "llama.log")
    try:
        history = []
        for index in range(12):
            history += [
                ChatMessage("user", f"Tell me fact number {index} about the sea."),
                ChatMessage("assistant", f"Fact {index}: the sea is deep and wide and salty."),
            ]
        req = request(
            "One more fact, please.", GenerationParams(max_tokens=16, temperature=0), history
        )
        _, finished = collect(engine.stream(req))
        stats = finished.stats
        assert stats.dropped_messages >= 2 and stats.dropped_messages % 2 == 0
        assert stats.prompt_tokens <= 256 - 16
        assert stats.prompt_tokens + stats.completion_tokens <= 256
        assert stats.finish_reason in ("stop", "length")
    finally:
        engine.close()


def test_llama_cpp_log_goes_to_the_file_not_the_terminal(smollm2_path, tmp_path, capfd):
    from r1chat.engine.llama import LlamaEngine

    log = tmp_path / "llama.log"
    engine = LlamaEngine(smollm2_path, n_ctx=512, log_path=log)
    collect(engine.stream(request("hi", GenerationParams(max_tokens=4))))
    engine.close()
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert str(smollm2_path.name) in log.read_text()  # llama.cpp wrote about loading it


def test_a_prompt_that_opens_think_streams_reasoning_with_its_own_stats(smollm2_path, tmp_path):
    """SmolLM2 given an R1-style prompt (ending in <think>): its text counts as reasoning."""
    from r1chat.engine.llama import LlamaEngine
    from r1chat.engine.template import CHATML_TEMPLATE, ChatTemplate

    engine = LlamaEngine(smollm2_path, n_ctx=512, log_path=tmp_path / "llama.log")
    try:
        engine.template = ChatTemplate(CHATML_TEMPLATE + "<think>\n")
        events = list(engine.stream(request(STORY, GenerationParams(max_tokens=12, temperature=0))))
        reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
        assert isinstance(events[-1], Finished)
        stats = events[-1].stats
        assert reasoning and stats.reasoning_tokens == 12 and stats.answer_tokens == 0
        assert stats.had_reasoning and stats.reasoning_seconds is not None
        assert stats.finish_reason == "length"
    finally:
        engine.close()


@pytest.mark.slow
def test_cancel_while_reading_a_long_prompt_stops_at_the_next_chunk(smol_engine, monkeypatch):
    from r1chat.engine.llama import PREFILL_CHUNK

    cancel = threading.Event()
    calls: list[int] = []
    original = smol_engine._llm.eval

    def eval_then_cancel(tokens):
        calls.append(len(tokens))
        original(tokens)
        cancel.set()  # as if the user pressed Ctrl-C while the prompt was being read

    monkeypatch.setattr(smol_engine._llm, "eval", eval_then_cancel)
    smol_engine._llm.reset()
    long_prompt = "Summarise this: " + "the tide comes in and goes out again. " * 80
    answer, finished = collect(smol_engine.stream(request(long_prompt), cancel))
    monkeypatch.undo()
    assert finished.stats.prompt_tokens > 3 * PREFILL_CHUNK
    assert calls == [PREFILL_CHUNK]
    assert finished.stats.finish_reason == "cancelled" and answer == ""
    # The half-read prompt is reused, not trusted blindly: the next reply is correct.
    again, _ = collect(smol_engine.stream(request(STORY)))
    smol_engine._llm.reset()
    fresh, _ = collect(smol_engine.stream(request(STORY)))
    assert again == fresh


def test_the_llama_log_is_rotated_and_never_grows_past_two_files(smollm2_path, tmp_path):
    from r1chat.engine import llama_log
    from r1chat.engine.llama import LlamaEngine

    log = tmp_path / "llama.log"
    log.write_text("old line\n" * (llama_log.ROTATE_BYTES // 9 + 10))
    (tmp_path / "llama.log.1").write_text("the oldest\n")
    old_umask = os.umask(0)
    try:
        engine = LlamaEngine(smollm2_path, n_ctx=512, log_path=log)
        engine.close()
    finally:
        os.umask(old_umask)
    assert oct(log.stat().st_mode & 0o777) == "0o600"  # it may quote prompts
    rotated = (tmp_path / "llama.log.1").read_text()
    assert rotated.startswith("old line") and "the oldest" not in rotated
    assert 0 < log.stat().st_size < llama_log.ROTATE_BYTES  # this load's lines, in a new file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llama.log", "llama.log.1"]


def _topology(root, cores: dict[int, tuple[int, int]]):
    for cpu, (package, core) in cores.items():
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "physical_package_id").write_text(f"{package}\n")
        (folder / "core_id").write_text(f"{core}\n")
    return root


def test_the_default_thread_count_is_the_physical_cores_the_process_may_use(tmp_path):
    from r1chat.models.hardware import default_threads

    # Two cores with one thread each (this CI machine's shape): both are used, not one.
    plain = _topology(tmp_path / "plain", {0: (0, 0), 1: (0, 1)})
    assert default_threads({0, 1}, plain).threads == 2
    # Four cores with two hardware threads each: one thread per core.
    smt = _topology(tmp_path / "smt", {c: (0, c % 4) for c in range(8)})
    assert default_threads(set(range(8)), smt).threads == 4
    # Pinned to three CPUs, two of which share a core (taskset, containers).
    assert default_threads({0, 4, 1}, smt).threads == 2
    # No topology to read (other systems): the CPUs the process may use.
    assert default_threads({0, 1, 2}, tmp_path / "missing").threads == 3
    choice = default_threads(set(range(8)), smt)
    assert "4 physical cores among the 8 CPUs" in choice.why


def test_the_engine_runs_llama_cpp_on_the_default_threads(smollm2_path, tmp_path):
    from r1chat.engine.llama import LlamaEngine
    from r1chat.models.hardware import default_threads

    engine = LlamaEngine(smollm2_path, n_ctx=256, log_path=tmp_path / "llama.log")
    try:
        assert engine.threads == default_threads().threads
        assert engine._llm.n_threads == engine.threads
    finally:
        engine.close()
    pinned = LlamaEngine(smollm2_path, n_ctx=256, threads=1, log_path=tmp_path / "llama.log")
    try:
        assert pinned._llm.n_threads == 1
    finally:
        pinned.close()


def test_an_untested_llama_cpp_python_is_refused_in_one_sentence():
    import types

    import pytest

    from r1chat.engine import llama_compat
    from r1chat.errors import ModelError

    for version in ("0.3.16", "0.2.90", "0.4.0", "1.0.0"):
        with pytest.raises(ModelError, match=f"llama-cpp-python {version} is not supported"):
            llama_compat.check_version(types.SimpleNamespace(__version__=version))
    for version in ("0.3.17", "0.3.36", "0.3.40+cu121"):
        llama_compat.check_version(types.SimpleNamespace(__version__=version))


def test_the_prompt_cache_is_reused_between_turns_and_never_trusts_stale_tokens(
    smol_engine, monkeypatch
):
    from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
    from r1chat.engine import llama_compat

    params = GenerationParams(max_tokens=8, temperature=0)
    reads: list[int] = []
    original = smol_engine._llm.eval

    def counted(tokens: list[int]) -> None:
        reads.append(len(tokens))
        original(tokens)

    monkeypatch.setattr(smol_engine._llm, "eval", counted)
    first = [ChatMessage("user", "Name three rivers of Europe, please.")]
    events = list(smol_engine.stream(ChatRequest(tuple(first), params)))
    answer = "".join(getattr(e, "text", "") for e in events[:-1])
    second = [*first, ChatMessage("assistant", answer), ChatMessage("user", "And of Asia?")]
    request = ChatRequest(tuple(second), params)
    prompt = smol_engine.prepare(request).tokens
    shared = 0
    for have, want in zip(llama_compat.cached_tokens(smol_engine._llm), prompt, strict=False):
        if have != want:
            break
        shared += 1
    reads.clear()
    events = list(smol_engine.stream(request, None))
    generated = events[-1].stats.completion_tokens
    # Only the new turn is read (plus one token again, for fresh logits), then one per token.
    assert shared > 10 and sum(reads) <= len(prompt) - shared + 1 + generated
    # Tokens beyond what the cache holds are never taken as cached, even if they match.
    llama_compat.keep_prefix(smol_engine._llm, 5)
    reads.clear()
    list(smol_engine.stream(request, None))
    assert sum(reads) >= len(prompt) - 5
