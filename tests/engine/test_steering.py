"""Steering reasoning on real llama.cpp with R1-flavoured SmolLM2 (both template vintages):
answer now, a reasoning budget, thinking off, and Ctrl-C in `ask`. SmolLM2 never closes
`</think>` by itself, so every answer here exists only because r1chat closed the reasoning."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from r1chat.core.saving import saving_to
from r1chat.core.session import ChatSession
from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine import llama_compat as compat
from r1chat.engine.events import AnswerDelta, Finished, ReasoningDelta
from r1chat.engine.llama import LlamaEngine
from r1chat.engine.steering import CLOSE_REASONING, ReplyControl
from r1chat.store import ChatStore
from tests.tui_helpers import latest_id

QUESTION = [ChatMessage("user", "Why is the sky blue?")]


@pytest.fixture(scope="module", params=["old", "new"])
def r1_engine_both(request, r1_smol_path, r1_smol_new_path, tmp_path_factory):
    path = r1_smol_path if request.param == "old" else r1_smol_new_path
    engine = LlamaEngine(path, n_ctx=1024, log_path=tmp_path_factory.mktemp("log") / "llama.log")
    yield engine
    engine.close()


class EvalCounter:
    """Every batch of tokens llama.cpp is asked to read, but drafts being checked (prompt
    lookup reads a sampled token with the drafted ones after it)."""

    def __init__(self, engine: LlamaEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[int] = []
        llm = engine._llm
        original, decode = llm.eval, compat.decode

        def counted(tokens):
            self.batches.append(len(tokens))
            return original(tokens)

        def decoded(model, tokens, *, every_row):
            if not every_row:
                self.batches.append(len(tokens))
            return decode(model, tokens, every_row=every_row)

        monkeypatch.setattr(llm, "eval", counted)
        monkeypatch.setattr(compat, "decode", decoded)


@pytest.mark.slow
def test_answer_now_closes_the_reasoning_and_answers_without_reading_the_prompt_again(
    r1_engine_both, monkeypatch
):
    engine = r1_engine_both
    assert engine.info.reasoning
    counter = EvalCounter(engine, monkeypatch)
    control = ReplyControl()
    params = GenerationParams(max_tokens=60, temperature=0)
    events = []
    reasoning_seen = 0
    for event in engine.stream(ChatRequest(tuple(QUESTION), params), control):
        events.append(event)
        if isinstance(event, ReasoningDelta):
            reasoning_seen += 1
            if reasoning_seen == 5:
                control.answer_now()
                asked_at = len(counter.batches)
    kinds = [type(e) for e in events if isinstance(e, ReasoningDelta | AnswerDelta)]
    first_answer = kinds.index(AnswerDelta)
    assert ReasoningDelta in kinds[:first_answer] and ReasoningDelta not in kinds[first_answer:]
    stats = events[-1].stats
    assert isinstance(events[-1], Finished)
    assert stats.reasoning_cut == "user" and stats.answer_tokens > 0
    assert not stats.reasoning_open
    # After the request, llama.cpp read one generated token and the closing tag, then one
    # token at a time: never the prompt again.
    closing = len(engine._closing_tokens())
    after = counter.batches[asked_at:]
    assert max(after) <= closing + 1 < stats.prompt_tokens
    assert closing + 1 in after


@pytest.mark.slow
def test_a_reasoning_budget_stops_reasoning_at_exactly_n_tokens(r1_engine_both):
    params = GenerationParams(max_tokens=80, temperature=0, think_budget=17)
    events = list(r1_engine_both.stream(ChatRequest(tuple(QUESTION), params)))
    stats = events[-1].stats
    assert stats.reasoning_tokens == 17 and stats.reasoning_cut == "budget"
    assert stats.answer_tokens > 0 and any(isinstance(e, AnswerDelta) for e in events)


@pytest.mark.slow
def test_thinking_off_answers_at_once_with_no_reasoning_tokens(r1_engine_both):
    params = GenerationParams(max_tokens=20, temperature=0, thinking=False)
    request = ChatRequest(tuple(QUESTION), params)
    assert r1_engine_both.prepare(request).prompt.text.endswith("<think>\n\n</think>\n\n")
    events = list(r1_engine_both.stream(request))
    stats = events[-1].stats
    assert stats.thinking_off and stats.reasoning_tokens == 0 and stats.answer_tokens > 0
    assert not any(isinstance(e, ReasoningDelta) for e in events)


@pytest.mark.slow
def test_the_saved_reply_keeps_both_parts_and_says_the_reasoning_was_cut(r1_smol_path, tmp_path):
    engine = LlamaEngine(r1_smol_path, n_ctx=1024, log_path=tmp_path / "llama.log")
    store = ChatStore(tmp_path / "chats.db")
    try:
        session = ChatSession(
            engine, params=GenerationParams(max_tokens=60, temperature=0), observe=saving_to(store)
        )
        control = ReplyControl()
        for event in session.reply("Why is the sky blue?", control):
            if isinstance(event, ReasoningDelta):
                control.answer_now()
        saved = store.conversation(latest_id(store)).messages[-1]
        assert saved.reasoning and saved.content.strip() and saved.stats is not None
        assert saved.stats["reasoning_cut"] == "user" and not saved.no_answer
    finally:
        store.close()
        engine.close()


def test_the_closing_tag_is_written_in_the_model_s_own_tokens(r1_engine, smol_engine):
    # The real R1 vocabulary has </think> as one token of its own.
    r1_tokens = r1_engine.tokenize(CLOSE_REASONING)
    think_close = r1_engine.tokenize("</think>")
    assert len(think_close) == 1 and think_close[0] in r1_tokens
    assert len(smol_engine.tokenize("</think>")) > 1  # plain text pieces for SmolLM2


def _ask(r1chat_command, cli_env, model, signals: int) -> tuple[int, str, str]:
    """Run `ask` with the reasoning shown; send SIGINT `signals` times once it reasons."""
    process = subprocess.Popen(
        [
            *r1chat_command,
            "ask",
            "--model",
            str(model),
            "--show-thinking",
            "--no-save",
            "-n",
            "400",
            "--temperature",
            "0",
            "Why is the sky blue?",
        ],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = process.stdout, process.stderr
    assert stdout is not None and stderr is not None
    err: list[bytes] = []
    reader = threading.Thread(
        target=lambda: err.extend(iter(lambda: os.read(stderr.fileno(), 4096), b""))
    )
    reader.start()
    deadline = time.monotonic() + 60
    while sum(len(chunk) for chunk in err) < 40:  # some reasoning is on screen
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    for _ in range(signals):
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
    out = stdout.read().decode()
    code = process.wait(timeout=60)
    reader.join()
    return code, out, b"".join(err).decode()


@pytest.mark.slow
def test_ctrl_c_in_ask_answers_once_and_stops_twice(r1chat_command, cli_env, r1_smol_path):
    code, out, err = _ask(r1chat_command, cli_env, r1_smol_path, signals=1)
    assert code == 0, err
    assert "answering from the reasoning so far" in err and out.strip()
    code, out, err = _ask(r1chat_command, cli_env, r1_smol_path, signals=2)
    assert code == 130 and "stopped" in err
