"""`ChatSession` on the real SmolLM2 model: history, clean prompts, partial replies."""

from __future__ import annotations

import threading

import pytest

from r1chat.core.session import ChatSession
from r1chat.domain import ChatMessage, GenerationParams
from r1chat.engine.events import AnswerDelta, Finished
from r1chat.errors import R1ChatError
from tests.tui_helpers import last_reply


def drain(events) -> Finished:
    last = None
    for event in events:
        last = event
    assert isinstance(last, Finished)
    return last


def test_two_turns_build_on_each_other(smol_engine):
    session = ChatSession(smol_engine, params=GenerationParams(max_tokens=16, temperature=0))
    drain(session.reply("My name is Ada. Say hello to me."))
    first_answer = session.messages[1].content
    assert [m.role for m in session.messages] == ["user", "assistant"] and first_answer
    drain(session.reply("What is my name?"))
    assert [m.role for m in session.messages] == ["user", "assistant"] * 2
    prompt = smol_engine.render(session.messages[:3]).text
    assert "My name is Ada." in prompt and first_answer in prompt


def test_reasoning_in_history_is_not_sent_back(smol_engine):
    session = ChatSession(smol_engine)
    session.messages = [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "Hello!", reasoning="The user greets me; SECRET-THOUGHT."),
    ]
    prompt = smol_engine.render([*session.messages, ChatMessage("user", "again")]).text
    assert "SECRET-THOUGHT" not in prompt and "Hello!" in prompt


def test_a_stopped_reply_keeps_its_partial_text(smol_engine):
    session = ChatSession(smol_engine, params=GenerationParams(max_tokens=200, temperature=0))
    cancel = threading.Event()
    seen = []
    for event in session.reply("Write a long story about a cat.", cancel):
        if isinstance(event, AnswerDelta):
            seen.append(event.text)
            if len(seen) == 4:
                cancel.set()
    assert session.last_reply is not None
    assert (stats := last_reply(session).stats) and stats.finish_reason == "cancelled"
    assert session.messages[-1].content == "".join(seen) == last_reply(session).answer


def test_empty_prompt_adds_nothing(smol_engine):
    session = ChatSession(smol_engine)
    with pytest.raises(R1ChatError, match="empty"):
        session.reply("  \n ")
    assert session.messages == []
