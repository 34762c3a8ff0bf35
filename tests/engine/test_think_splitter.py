"""The <think> splitter over every way a reply can be cut into pieces."""

from __future__ import annotations

import itertools

import pytest

from r1chat.engine.events import AnswerDelta, ReasoningDelta
from r1chat.engine.think import ThinkSplitter, prompt_opens_reasoning

# (raw reply, prompt opened <think>, expected reasoning, expected answer, had a reasoning block)
CASES = [
    (
        "<think>\nLet me add.\n2+2=4\n</think>\n\nIt is **4**.",
        False,
        "Let me add.\n2+2=4",
        "It is **4**.",
        True,
    ),
    ("Let me add.\n</think>\n\nIt is 4.", True, "Let me add.", "It is 4.", True),
    ("</think>Only an answer", True, "", "Only an answer", True),
    ("<think>\n\n</think>\n\nHello!", False, "", "Hello!", True),
    (
        "<think>\nStill thinking when the limit hit",
        False,
        "Still thinking when the limit hit",
        "",
        True,
    ),
    ("Thinking with no end", True, "Thinking with no end", "", True),
    ("Plain answer, no thinking at all.", False, "", "Plain answer, no thinking at all.", False),
    ("  \n<think>x</think>y", False, "x", "y", True),
    (
        "Use <think> tags like this: <think>",
        False,
        "",
        "Use <think> tags like this: <think>",
        False,
    ),
    ("stray close</think> tag", False, "", "stray close tag", False),
    ("<think>a</think>b</think>c<think>d", False, "a", "b</think>c<think>d", True),
    ("<think>\n<think>nested</think>ok", False, "nested", "ok", True),
    ("a < b and c <th d", False, "", "a < b and c <th d", False),
    ("x <\n</think>\n\nanswer <", True, "x <", "answer <", True),
    ("<thinking>not a tag</thinking>", False, "", "<thinking>not a tag</thinking>", False),
    ("é😀 reasoning\n</think>\n中文答案", True, "é😀 reasoning", "中文答案", True),
]


def run(pieces: list[str], start_in_reasoning: bool) -> tuple[str, str, bool, list[object]]:
    splitter = ThinkSplitter(start_in_reasoning)
    deltas: list[object] = []
    for piece in pieces:
        deltas += splitter.feed(piece)
    deltas += splitter.finish()
    reasoning = "".join(d.text for d in deltas if isinstance(d, ReasoningDelta))
    answer = "".join(d.text for d in deltas if isinstance(d, AnswerDelta))
    return reasoning, answer, splitter.had_reasoning, deltas


def splits(text: str, cuts: int) -> list[list[str]]:
    """Every way to cut `text` at `cuts` positions (positions may repeat: empty pieces)."""
    result = []
    for points in itertools.combinations_with_replacement(range(len(text) + 1), cuts):
        bounds = [0, *points, len(text)]
        result.append([text[a:b] for a, b in itertools.pairwise(bounds)])
    return result


@pytest.mark.parametrize(("raw", "opened", "reasoning", "answer", "had"), CASES)
def test_every_single_and_double_split_gives_the_same_result(raw, opened, reasoning, answer, had):
    expected = (reasoning, answer, had)
    whole = run([raw], opened)[:3]
    assert whole == expected
    for pieces in splits(raw, 1) + splits(raw, 2):
        assert run(pieces, opened)[:3] == expected, pieces


@pytest.mark.parametrize(("raw", "opened", "reasoning", "answer", "had"), CASES)
def test_character_by_character(raw, opened, reasoning, answer, had):
    got_reasoning, got_answer, got_had, deltas = run(list(raw), opened)
    assert (got_reasoning, got_answer, got_had) == (reasoning, answer, had)
    assert all(getattr(d, "text", "") for d in deltas)  # no empty deltas
    # Reasoning never comes after the answer has started.
    kinds = [type(d) for d in deltas]
    if AnswerDelta in kinds:
        assert ReasoningDelta not in kinds[kinds.index(AnswerDelta) :]


def test_text_is_released_as_soon_as_it_cannot_be_a_tag():
    splitter = ThinkSplitter(start_in_reasoning=True)
    assert splitter.feed("step one") == [ReasoningDelta("step one")]
    assert splitter.feed(" <") == []  # may be the start of </think>
    assert splitter.feed("b") == [ReasoningDelta(" <b")]
    assert splitter.feed("\n</thi") == []
    assert splitter.feed("nk>\n\nDone") == [AnswerDelta("Done")]
    assert splitter.reasoning_closed


def test_prompt_state_detection():
    assert prompt_opens_reasoning("<｜User｜>hi<｜Assistant｜><think>\n")
    assert not prompt_opens_reasoning("<｜User｜>hi<｜Assistant｜>")
    assert not prompt_opens_reasoning("<think>a</think> later turn<｜Assistant｜>")
