"""Fitting a long chat in blocks, so the prompt's start (and llama.cpp's cache) lasts many
turns; counted with the real SmolLM2 tokenizer."""

from __future__ import annotations

import statistics

from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.context import estimated_plan, find_cut, stable_cut
from r1chat.engine.events import Finished
from r1chat.text import shared_prefix

PARAMS = GenerationParams(max_tokens=128)


def exchange(n: int) -> list[ChatMessage]:
    return [
        ChatMessage("user", f"Question {n}: what is {n} times {n + 7}, and why does it matter?"),
        ChatMessage("assistant", f"Answer {n}: it is {n * (n + 7)}. " + "Some more words. " * 6),
    ]


def test_twenty_turns_of_a_long_chat_mostly_read_only_what_is_new(smol_engine):
    history = [m for n in range(400) for m in exchange(n)]  # far past 2,048 tokens
    window = smol_engine.n_ctx
    previous: list[int] | None = None
    read: list[int] = []
    new_parts: list[int] = []
    dropped: list[int] = []
    for turn in range(400, 420):
        question, answer = exchange(turn)
        history.append(question)
        prepared = smol_engine.prepare(ChatRequest(tuple(history), PARAMS))
        assert len(prepared.tokens) <= window - prepared.reserve
        dropped.append(prepared.dropped_messages)
        if previous is not None:
            read.append(len(prepared.tokens) - shared_prefix(previous, list(prepared.tokens)))
            reply_and_question = history[-2:]
            new_parts.append(sum(smol_engine.turn_tokens(m) for m in reply_and_question))
        previous = list(prepared.tokens)
        history.append(answer)
    assert min(dropped) > 0
    assert len(set(dropped)) <= 3, dropped  # the start moved at most twice in 20 turns
    assert statistics.median(read) <= statistics.median(new_parts) + 0.05 * window, read


def test_one_turn_at_a_time_fitting_would_move_the_start_every_turn(smol_engine):
    """What the blocks replace: the smallest cut moves with nearly every reply."""
    history = [m for n in range(400) for m in exchange(n)]
    cuts, blocks = [], []
    fixed, reserve = 8, 128
    for turn in range(400, 410):
        question, answer = exchange(turn)
        history.append(question)
        costs = [smol_engine.turn_tokens(m) for m in history]
        cut = find_cut(history, costs, fixed, smol_engine.n_ctx, reserve)
        cuts.append(cut)
        blocks.append(stable_cut(history, costs, cut, fixed, smol_engine.n_ctx - reserve))
        history.append(answer)
    assert len(set(cuts)) >= 9 and len(set(blocks)) <= 2
    assert all(block >= cut for block, cut in zip(blocks, cuts, strict=True))


def test_a_chat_that_fits_loses_nothing_and_estimated_plans_use_blocks_too():
    short = (*[m for n in range(3) for m in exchange(n)], ChatMessage("user", "And?"))
    assert estimated_plan(ChatRequest(short), 4096, 8).dropped_messages == 0
    long: list[ChatMessage] = [m for n in range(300) for m in exchange(n)]
    seen = set()
    for turn in range(300, 310):
        long.append(exchange(turn)[0])
        seen.add(estimated_plan(ChatRequest(tuple(long)), 4096, 8).dropped_messages)
        long.append(exchange(turn)[1])
    assert len(seen) <= 2 and min(seen) > 0


def test_each_reply_says_how_much_of_its_prompt_was_read_and_how_much_was_cached(smol_engine):
    history = (ChatMessage("user", "Name three colours."),)
    params = GenerationParams(max_tokens=8, temperature=0)
    first = list(smol_engine.stream(ChatRequest(history, params)))[-1]
    assert isinstance(first, Finished)
    follow = (
        *history,
        ChatMessage("assistant", "Red, green, blue."),
        ChatMessage("user", "And three more?"),
    )
    second = list(smol_engine.stream(ChatRequest(follow, params)))[-1]
    assert isinstance(second, Finished)
    stats = second.stats
    assert stats.prompt_tokens_read is not None and stats.prompt_tokens_cached is not None
    assert stats.prompt_tokens_read + stats.prompt_tokens_cached == stats.prompt_tokens
    assert stats.prompt_tokens_cached > 0 and stats.prompt_tokens_read < stats.prompt_tokens
    assert "prompt_tokens_read" in stats.to_dict()
