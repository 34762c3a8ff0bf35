"""Prompt lookup: drafts from the conversation, checked in one step, on real SmolLM2.

Under greedy sampling a reply with prompt lookup is the reply without it: the same
tokens, up to a place where the model's two best tokens are all but tied. There the
two may part: llama.cpp's CPU kernels round a step that reads one token differently
from a step that reads several (measured here: logits differ by up to about 0.8), so
a near tie can fall either way. The tests check exactly that, and where a reply made
no draft, that it is identical."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine import llama_compat as compat
from r1chat.engine.events import AnswerDelta, Finished, ReasoningDelta
from r1chat.engine.llama import LlamaEngine
from r1chat.engine.lookup import MOST, ContextDrafts, DraftPilot
from r1chat.engine.steering import ReplyControl
from r1chat.ui.widgets.messages import stats_line

PASSAGE = (
    "The lighthouse stood on a rock at the mouth of the harbour. Every evening the "
    "keeper climbed its ninety steps, trimmed the wick, wound the clockwork that turned "
    "the lens, and wrote the weather in a book bound in green cloth."
)
CODE = (
    "def total(prices, tax):\n"
    "    result = 0\n"
    "    for price in prices:\n"
    "        result += price * (1 + tax)\n"
    "    return result\n"
)
REPEATS = {
    "repeat": f"Repeat this text exactly, word for word:\n\n{PASSAGE}",
    "edit": f"Rename the function `total` to `gross` and give back the whole code:\n\n{CODE}",
}
TIE = 1.5
"""Logits apart below which two tokens count as tied (the kernels differ by ≤ 0.8)."""


def reply(engine: LlamaEngine, prompt: str, *, lookup: bool, max_tokens: int = 120):
    engine.prompt_lookup = lookup
    request = ChatRequest((ChatMessage("user", prompt),), GenerationParams(max_tokens, 0.0))
    text: list[str] = []
    for event in engine.stream(request):
        if isinstance(event, AnswerDelta | ReasoningDelta):
            text.append(event.text)
        if isinstance(event, Finished):
            return "".join(text), event.stats
    raise AssertionError("no Finished event")


def margin_where_they_part(engine: LlamaEngine, prompt: str, plain: str, drafted: str) -> float:
    """How far apart, in logits, the model put the two replies' tokens where they part,
    read by plain one-token steps along the plain reply."""
    llm = engine._llm
    request = ChatRequest((ChatMessage("user", prompt),))
    context = engine.prepare(request).tokens
    a, b = engine.tokenize(plain), engine.tokenize(drafted)
    at = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    llm.reset()
    llm.eval(context)
    for token in a[:at]:
        compat.decode(llm, [token], every_row=False)
    logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
    return float(abs(logits[a[at]] - logits[b[at]]))


def test_the_index_finds_the_last_earlier_run_of_the_tail_not_the_tail_itself():
    drafts = ContextDrafts([1, 2, 3, 4, 5, 9, 1, 2])
    assert drafts.draft(10) == []  # two tokens match too often by chance
    drafts.append(3)
    assert drafts.draft(3) == [4, 5, 9]
    assert drafts.draft(10) == [4, 5, 9, 1, 2, 3]
    for token in (7, 1, 2, 3):
        drafts.append(token)
    assert drafts.draft(2) == [7, 1]  # the most recent earlier run wins
    drafts.append(8)
    assert drafts.draft(5) == []


def test_an_index_built_at_once_is_the_one_built_token_by_token():
    tokens = [7, 1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 1, 2]
    for size in range(len(tokens) + 1):
        grown = ContextDrafts([])
        for token in tokens[:size]:
            grown.append(token)
        built = ContextDrafts(tokens[:size])
        assert built.tokens == grown.tokens and built.draft(5) == grown.draft(5)
        assert built._ends == grown._ends


def test_the_pilot_stops_drafting_after_rejections_and_starts_again_when_text_repeats():
    pilot = DraftPilot()
    pilot.plain_step(0.010)
    for _ in range(6):  # the reply copies: plain steps sample what a draft would have said
        pilot.plain_step(0.010, guess=7, token=7)
    lengths = []
    for _ in range(8):
        length = pilot.next_length()
        lengths.append(length)
        if length:
            pilot.checked(length, 0, 0.010 * (1 + 0.8 * length))
        else:
            pilot.plain_step(0.010, guess=7, token=8)
    assert lengths[0] > 0
    stopped = lengths.index(0)
    assert stopped <= 3 and lengths[stopped:] == [0] * (8 - stopped)
    assert pilot.drafted > 0 and pilot.accepted == 0
    # Plain steps keep learning: once the reply copies again, drafting starts again.
    for _ in range(30):
        pilot.plain_step(0.010, guess=5, token=5)
    assert pilot.next_length() > 0


def test_the_pilot_drafts_long_where_checking_is_cheap_and_not_at_all_where_it_costs_a_step():
    cheap = DraftPilot()
    cheap.plain_step(0.010)
    for _ in range(4):
        cheap.plain_step(0.010, guess=1, token=1)
    for _ in range(20):
        length = cheap.next_length()
        cheap.checked(length, length, 0.010 * (1 + 0.05 * length))  # a GPU: kept, cheap
    assert cheap.next_length() == MOST

    costly = DraftPilot()
    costly.plain_step(0.010)
    for _ in range(4):
        costly.plain_step(0.010, guess=1, token=1)
    lengths = []
    for _ in range(20):
        length = costly.next_length()
        lengths.append(length)
        if length:  # a busy CPU: each drafted token a step, half of them kept
            costly.checked(length, length // 2, 0.010 * (1 + length))
    assert lengths[0] > 0 and lengths[-8:] == [0] * 8


def test_a_reply_without_repeats_never_drafts():
    pilot = DraftPilot()
    pilot.plain_step(0.010)
    for token in range(200):  # guesses come now and then, and are wrong
        if token % 5 == 0:
            pilot.plain_step(0.010, guess=token, token=token + 1)
        else:
            pilot.plain_step(0.010)
        assert pilot.next_length() == 0


@pytest.mark.parametrize("kind", sorted(REPEATS))
def test_greedy_replies_are_the_same_with_prompt_lookup_where_the_model_is_not_torn(
    smol_engine, kind
):
    prompt = REPEATS[kind]
    plain, plain_stats = reply(smol_engine, prompt, lookup=False)
    drafted, stats = reply(smol_engine, prompt, lookup=True)
    assert plain_stats.draft_tokens == 0
    assert stats.draft_tokens_accepted > 0  # drafts were checked and kept
    if drafted != plain:
        assert smol_engine.tokenize(drafted)[:20] == smol_engine.tokenize(plain)[:20]
        assert margin_where_they_part(smol_engine, prompt, plain, drafted) < TIE
    else:
        assert stats.completion_tokens == plain_stats.completion_tokens


def test_a_reply_that_never_repeats_drafts_nothing_and_is_identical(smol_engine):
    prompt = "Name one colour."
    plain, plain_stats = reply(smol_engine, prompt, lookup=False, max_tokens=8)
    drafted, stats = reply(smol_engine, prompt, lookup=True, max_tokens=8)
    assert stats.draft_tokens == 0
    assert drafted == plain and stats.completion_tokens == plain_stats.completion_tokens


def test_the_stats_count_kept_drafts_and_the_stats_line_shows_them(smol_engine):
    _, stats = reply(smol_engine, REPEATS["repeat"], lookup=True)
    assert 0 < stats.draft_tokens_accepted <= stats.draft_tokens
    data = stats.to_dict()
    assert data["draft_tokens"] == stats.draft_tokens
    line = stats_line(data, "done")
    assert f"{stats.draft_tokens_accepted:,} from prompt lookup" in line


def test_stopping_while_drafting_leaves_a_cache_that_holds_the_reply_and_nothing_else(
    smol_engine,
):
    smol_engine.prompt_lookup = True
    request = ChatRequest(
        (ChatMessage("user", REPEATS["repeat"]),), GenerationParams(120, temperature=0.0)
    )
    cancel = threading.Event()
    pieces = 0
    for event in smol_engine.stream(request, cancel):
        if isinstance(event, AnswerDelta):
            pieces += 1
            if pieces == 30:
                cancel.set()
        if isinstance(event, Finished):
            stats = event.stats
    assert stats.finish_reason == "cancelled" and stats.draft_tokens_accepted > 0
    cached = compat.cached_tokens(smol_engine._llm)
    prompt = smol_engine.prepare(request).tokens
    assert cached[: len(prompt)] == prompt
    # No rejected draft stays behind: the cache is the prompt and sampled tokens, which
    # the model reads back unchanged when asked to go on from them.
    assert len(cached) - len(prompt) <= stats.completion_tokens + MOST + 1
    again, after = reply(smol_engine, REPEATS["repeat"], lookup=True)
    assert after.finish_reason in ("stop", "length") and again


def test_answer_now_while_drafting_closes_the_reasoning_and_answers(r1_smol_path, tmp_path):
    engine = LlamaEngine(r1_smol_path, n_ctx=2048, log_path=tmp_path / "llama.log")
    try:
        control = ReplyControl()
        question = f"Copy this passage out twice:\n\n{PASSAGE}"
        request = ChatRequest((ChatMessage("user", question),), GenerationParams(160, 0.0))
        reasoning = answer = 0
        for event in engine.stream(request, control):
            if isinstance(event, ReasoningDelta):
                reasoning += 1
                if reasoning == 60:
                    control.answer_now()
            elif isinstance(event, AnswerDelta):
                answer += 1
            elif isinstance(event, Finished):
                stats = event.stats
        assert stats.draft_tokens_accepted > 0
        assert stats.reasoning_cut == "user" and stats.answer_tokens > 0 and answer > 0
    finally:
        engine.close()


def test_a_read_longer_than_a_batch_goes_in_steps_and_samples_as_eval_would(smol_engine):
    llm = smol_engine._llm
    tokens = smol_engine.tokenize(PASSAGE * 12)
    assert len(tokens) > llm.n_batch
    llm.reset()
    compat.decode(llm, tokens, every_row=False)
    assert compat.cached_tokens(llm) == tokens and compat.logits_current(llm)
    ours = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),)).copy()
    llm.reset()
    llm.eval(tokens)
    theirs = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
    assert int(ours.argmax()) == int(theirs.argmax())
