"""Memory facts: the store table, `r1chat memory`, where the facts go in the prompt (real R1
and SmolLM2 templates), that they never push out history, and export/import."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from r1chat.core.session import ChatSession
from r1chat.domain import ChatMessage, GenerationParams
from r1chat.errors import R1ChatError
from r1chat.store import ChatStore
from r1chat.store.memory import FACT_CHARS, Memory
from tests.cli_helpers import run

FACTS = ["My name is Ada.", "I write Rust and prefer short answers."]


@pytest.fixture
def store(tmp_path):
    chat_store = ChatStore(tmp_path / "chats.db")
    yield chat_store
    chat_store.close()


def test_facts_are_kept_switched_and_checked(store):
    memory = Memory(store)
    first = memory.add("  My name   is Ada. ")
    assert first.text == "My name is Ada." and first.enabled
    assert memory.add("My name is Ada.").id == first.id  # the same text is kept once
    second = memory.add("I like tea.")
    memory.set_enabled(second.id, False)
    assert [f.text for f in memory.facts(enabled_only=True)] == ["My name is Ada."]
    memory.edit(first.id, "My name is Ada Lovelace.")
    assert memory.get(first.id).text == "My name is Ada Lovelace."
    for bad in ("", "   ", "x" * (FACT_CHARS + 1)):
        with pytest.raises(R1ChatError):
            memory.add(bad)
    with pytest.raises(R1ChatError, match="no memory fact 99"):
        memory.remove(99)
    assert memory.clear() == 2 and memory.facts() == []


def test_r1_models_get_the_facts_inside_the_first_user_turn(r1_engine):
    session = ChatSession(r1_engine, memory=list(FACTS), system_prompt="Answer in French.")
    prompt = r1_engine.prepare(session.with_memory(session.request("Hello"))).prompt.text
    user = prompt.index("<｜User｜>")
    assert user < prompt.index("My name is Ada.") < prompt.index("Hello")
    assert prompt.index("I write Rust") < prompt.index("Answer in French.")
    assert session.memory_used == 2 and session.memory_tokens > 10


def test_other_models_get_the_facts_as_a_system_message(smol_engine):
    session = ChatSession(smol_engine, memory=list(FACTS))
    prompt = smol_engine.prepare(session.with_memory(session.request("Hello"))).prompt.text
    assert prompt.index("<|im_start|>system") < prompt.index("My name is Ada.")
    assert prompt.index("My name is Ada.") < prompt.index("<|im_start|>user\nHello")


def test_a_chat_can_turn_memory_off(smol_engine):
    session = ChatSession(smol_engine, memory=list(FACTS), params=GenerationParams(memory=False))
    prompt = smol_engine.prepare(session.with_memory(session.request("Hello"))).prompt.text
    assert "Ada" not in prompt and session.memory_used == 0


def test_memory_never_pushes_out_history_the_oldest_facts_go_first(smol_engine):
    # A history that just fits the 2,048-token window without memory.
    history: list[ChatMessage] = []
    facts = [f"Fact number {n}: " + "detail " * 25 for n in range(12)]
    session = ChatSession(smol_engine, memory=facts, params=GenerationParams(max_tokens=64))
    for index in range(40):
        turn = [
            ChatMessage("user", f"Question {index}: " + "tell me more " * 30),
            ChatMessage("assistant", f"Answer {index}: " + "here is more " * 30),
        ]
        session.messages = [*history, *turn]
        if smol_engine.plan(session.request("Next?")).dropped_messages:
            break
        history += turn
    session.messages = history
    bare = smol_engine.plan(session.request("Next?"))
    assert bare.dropped_messages == 0 and bare.tokens > 1200
    with_memory = session.plan("Next?")
    assert with_memory.dropped_messages == bare.dropped_messages  # history comes first
    assert 0 < session.memory_used < len(facts)  # some facts had to go
    prompt = smol_engine.prepare(session.with_memory(session.request("Next?"))).prompt.text
    assert "Fact number 11" in prompt and "Fact number 0:" not in prompt  # newest kept
    assert replace(GenerationParams(), memory=True).memory


@pytest.mark.slow
def test_memory_command_and_export_import(r1chat_command, cli_env, tmp_path):
    assert run(r1chat_command, cli_env, "memory", "add", "I live in Lyon.").returncode == 0
    assert run(r1chat_command, cli_env, "memory", "add", "Reply in English.").returncode == 0
    assert run(r1chat_command, cli_env, "memory", "off", "2").returncode == 0
    listed = json.loads(run(r1chat_command, cli_env, "memory", "list", "--json").stdout)
    assert [(f["text"], f["enabled"]) for f in listed] == [
        ("I live in Lyon.", True),
        ("Reply in English.", False),
    ]
    missing = run(r1chat_command, cli_env, "memory", "rm", "7")
    assert missing.returncode == 1 and "no memory fact 7" in missing.stderr
    assert "Traceback" not in missing.stderr
    refused = run(r1chat_command, cli_env, "memory", "clear")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    exported = run(r1chat_command, cli_env, "export", "--all", "--format", "json")
    document = json.loads(exported.stdout)
    assert [f["text"] for f in document["memory"]] == ["I live in Lyon.", "Reply in English."]
    file = tmp_path / "all.json"
    file.write_text(exported.stdout)
    other = {**cli_env, "R1CHAT_HOME": str(tmp_path / "elsewhere")}
    imported = run(r1chat_command, other, "import", str(file))
    assert "Imported 2 memory fact(s)" in imported.stderr
    moved = json.loads(run(r1chat_command, other, "memory", "list", "--json").stdout)
    assert [(f["text"], f["enabled"]) for f in moved] == [
        ("I live in Lyon.", True),
        ("Reply in English.", False),
    ]
    assert run(r1chat_command, cli_env, "memory", "clear", "--yes").returncode == 0
    assert json.loads(run(r1chat_command, cli_env, "memory", "list", "--json").stdout) == []
