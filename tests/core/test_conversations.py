"""The conversation core on real parts: edits as branches, linear context fitting, each
chat's own model and settings, and the "no answer" state (SmolLM2, R1 copies of it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from r1chat.core.saving import resumed as resume_chat
from r1chat.core.saving import saving_to
from r1chat.core.session import ChatSession
from r1chat.domain import ChatMessage, ChatRequest, GenerationParams
from r1chat.engine.context import find_cut
from r1chat.engine.events import Finished, Progress, PromptPlan
from r1chat.engine.llama import LlamaEngine
from r1chat.store import ChatStore
from r1chat.store.transfer import export_markdown
from tests.tui_helpers import last_reply

GREEDY = GenerationParams(max_tokens=6, temperature=0)


@pytest.fixture
def store(tmp_path):
    chat_store = ChatStore(tmp_path / "chats.db")
    yield chat_store
    chat_store.close()


@pytest.fixture(scope="module")
def r1_smol(r1_smol_path, tmp_path_factory):
    engine = LlamaEngine(
        r1_smol_path, n_ctx=1024, log_path=tmp_path_factory.mktemp("log") / "llama.log"
    )
    yield engine
    engine.close()


def history(pairs: int, words: int = 40) -> list[ChatMessage]:
    turns: list[ChatMessage] = []
    for index in range(pairs):
        turns.append(ChatMessage("user", f"Question {index}: " + "tell me more " * (words // 3)))
        turns.append(ChatMessage("assistant", f"Answer {index}: " + "here is more " * (words // 3)))
    return turns


# Edits are branches


def test_an_edit_is_a_sibling_and_the_replaced_turn_is_gone_after_a_restart(smol_engine, tmp_path):
    path = tmp_path / "chats.db"
    store = ChatStore(path)
    session = ChatSession(smol_engine, params=GREEDY, observe=saving_to(store))
    list(session.reply("Waht is 2+2?"))
    list(session.reply("And 3+3?"))
    replaced = session.message_ids[2]
    assert replaced is not None
    list(session.edit_last("And what is 3+3?"))
    conversation_id = session.conversation_id
    assert conversation_id is not None
    store.close()

    store = ChatStore(path)  # a restart
    conversation = store.conversation(conversation_id)
    users = [m.content for m in conversation.messages if m.role == "user"]
    assert users == ["Waht is 2+2?", "And what is 3+3?"]
    edited = conversation.messages[2]
    assert edited.parent_id == conversation.messages[1].id  # same parent as the original
    assert [m.id for m in store.versions(edited.id)] == [replaced, edited.id]
    assert "And 3+3?" not in export_markdown(conversation)
    resumed = resume_chat(smol_engine, store, conversation_id, params=GREEDY)
    prompt = smol_engine.render(resumed.request("Thanks").messages).text
    assert "And 3+3?" not in prompt and "And what is 3+3?" in prompt
    # The other version stays browsable, and the choice is remembered.
    store.set_leaf(conversation_id, store.newest_leaf(replaced))
    store.close()
    store = ChatStore(path)
    users = [m.content for m in store.conversation(conversation_id).messages if m.role == "user"]
    assert users == ["Waht is 2+2?", "And 3+3?"]
    store.close()


def test_editing_the_first_message_starts_a_second_root(smol_engine, store):
    session = ChatSession(smol_engine, params=GREEDY, observe=saving_to(store))
    list(session.reply("Hello there"))
    list(session.edit_last("Hello again"))
    first, _ = store.conversation(session.conversation_id).messages
    assert first.content == "Hello again" and first.parent_id is None
    assert len(store.versions(first.id)) == 2


# Context fitting


def test_fitting_keeps_the_newest_turns_that_fit_and_counts_each_turn_once(r1_engine):
    params = GenerationParams(max_tokens=1024)
    turns = history(400)
    request = ChatRequest((*turns, ChatMessage("user", "What did I ask first?")), params)
    prepared = r1_engine.prepare(request)
    budget = r1_engine.n_ctx - prepared.reserve
    dropped = prepared.dropped_messages
    assert 0 < dropped < len(turns) and dropped % 2 == 0
    assert len(prepared.tokens) <= budget
    # The cut is at or past the oldest turn that fits (old turns go in blocks, so the
    # prompt's start lasts many turns), and it keeps at least half the room.
    costs = [r1_engine.turn_tokens(m) for m in request.messages]
    assert dropped >= find_cut(request.messages, costs, 0, r1_engine.n_ctx, prepared.reserve)
    assert len(prepared.tokens) >= budget // 2
    # A second prompt on the same history tokenizes only the new text, not the prompt again.
    calls: list[str] = []
    tokenize, plain = r1_engine.tokenize, r1_engine._plain_uncached
    r1_engine.tokenize = lambda text: calls.append(text) or tokenize(text)  # type: ignore[func-returns-value]
    r1_engine._plain_uncached = lambda text: calls.append(text) or plain(text)  # type: ignore[func-returns-value]
    try:
        again = ChatRequest((*turns, ChatMessage("user", "And the second?")), params)
        r1_engine.prepare(again)
    finally:
        del r1_engine.tokenize
        del r1_engine._plain_uncached
    assert 0 < sum(len(text) for text in calls) < 100


@pytest.mark.parametrize("engine_name", ["r1_engine", "smol_engine"])
def test_a_prompt_tokenized_by_turns_is_the_prompt_tokenized_whole(engine_name, request):
    engine = request.getfixturevalue(engine_name)
    odd = [
        "  leading spaces and trailing  ",
        "<｜User｜>a marker typed by the user<|im_start|>user\n<think>not mine</think>",
        "émoji 🙂 and 中文 and tabs\t\tand\r\nnewlines",
        "",
    ]
    turns: list[ChatMessage] = []
    for text in odd * 3:
        turns += [ChatMessage("user", text or "?"), ChatMessage("assistant", text + " ok")]
    for end in range(2, len(turns) + 1, 2):
        text = engine.render([*turns[: end - 1], ChatMessage("user", odd[end % 4] or "?")]).text
        assert engine.tokenize_prompt(text) == engine.tokenize(text)
    assert engine._splitter is not None  # the turn-by-turn path was checked and is in use


@pytest.mark.slow
def test_a_stream_says_first_which_old_turns_it_leaves_out(smol_engine):
    request = ChatRequest((*history(40, words=60), ChatMessage("user", "Summarise.")), GREEDY)
    events = list(smol_engine.stream(request))
    plan = events[0]
    assert isinstance(plan, PromptPlan) and plan.dropped_messages > 0
    assert plan.tokens <= plan.n_ctx - plan.reserve
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.stats.dropped_messages == plan.dropped_messages
    assert finished.stats.prompt_tokens == plan.tokens
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].done == progress[-1].total == plan.tokens


# The "no answer" state, on R1-flavoured SmolLM2


@pytest.mark.slow
def test_a_reply_that_never_closes_its_reasoning_is_no_answer_and_can_think_on(r1_smol, store):
    assert r1_smol.info.reasoning
    session = ChatSession(
        r1_smol, params=GenerationParams(max_tokens=12, temperature=0), observe=saving_to(store)
    )
    list(session.reply("Why is the sky blue?"))
    reply = last_reply(session)
    assert reply.stats is not None
    assert reply.no_answer and reply.stats.reasoning_open
    assert reply.stats.finish_reason == "length" and reply.reasoning
    saved = store.conversation(session.conversation_id).messages[-1]
    assert saved.no_answer and saved.stats["no_answer"] is True
    assert "(no answer: reasoning cut off)" in export_markdown(
        store.conversation(session.conversation_id)
    )
    # Thinking on reads only what is new: the prompt and reasoning so far are cached.
    first_prompt = reply.stats.prompt_tokens
    events = list(session.continue_reply())
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[0].done >= first_prompt  # nothing before the old reasoning is read again
    continued = last_reply(session)
    assert continued.reasoning.startswith(reply.reasoning)
    assert len(continued.reasoning) > len(reply.reasoning)
    assert continued.stats is not None
    assert continued.stats.reasoning_tokens > reply.stats.reasoning_tokens
    messages = store.conversation(session.conversation_id).messages
    assert len(messages) == 2 and messages[-1].id == saved.id  # the same reply, grown
    assert messages[-1].reasoning == continued.reasoning


@pytest.mark.slow
def test_the_newer_r1_template_starts_the_reply_inside_reasoning(r1_smol_new_path, tmp_path):
    engine = LlamaEngine(r1_smol_new_path, n_ctx=512, log_path=tmp_path / "llama.log")
    try:
        prompt = engine.render([ChatMessage("user", "Hi")])
        assert prompt.text.endswith("<｜Assistant｜><think>\n") and not prompt.prefilled
        session = ChatSession(engine, params=GenerationParams(max_tokens=8, temperature=0))
        list(session.reply("Hi"))
        assert last_reply(session).no_answer and last_reply(session).reasoning
    finally:
        engine.close()


@pytest.mark.slow
def test_ask_says_no_answer_and_exits_3(r1chat_command, cli_env, r1_smol_path):
    done = subprocess.run(
        [
            *r1chat_command,
            "ask",
            "--model",
            str(r1_smol_path),
            "-n",
            "8",
            "--temperature",
            "0",
            "Why is the sky blue?",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    notes = [line for line in done.stderr.splitlines() if "no answer" in line]
    assert len(notes) == 1 and "Traceback" not in done.stderr
    as_json = subprocess.run(
        [*r1chat_command, "ask", "--json", "--model", str(r1_smol_path), "-n", "8", "Hi"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["stats"]["no_answer"] is True
    shown = subprocess.run(
        [*r1chat_command, "show", json.loads(as_json.stdout)["conversation_id"]],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "(no answer: reasoning cut off)" in shown.stdout


# Each chat keeps its own model and settings


@pytest.mark.slow
def test_resume_runs_the_chats_own_model_and_sampling(
    r1chat_command, cli_env, r1_smol_path, smollm2_path, tmp_path
):
    own = tmp_path / "models" / "Own-R1.gguf"
    own.parent.mkdir()
    shutil.copyfile(r1_smol_path, own)

    def ask(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        done = subprocess.run(
            [*r1chat_command, "ask", "--json", *args],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode in (0, 3), done.stderr
        return done, json.loads(done.stdout)

    _, first = ask("--model", str(own), "--temperature", "0.3", "--max-tokens", "5", "Hello")
    cid = first["conversation_id"]
    _, resumed = ask("-c", "Again")  # no --model: the chat's own, not the demo model
    assert resumed["model_path"] == str(own) and resumed["conversation_id"] == cid
    assert resumed["stats"]["completion_tokens"] <= 5  # its max_tokens came back too
    shown = subprocess.run(
        [*r1chat_command, "show", "--json", cid], env=cli_env, capture_output=True, text=True
    )
    params = json.loads(shown.stdout)["params"]
    assert params["temperature"] == 0.3 and params["model_path"] == str(own)
    # Flags still win, and a model that is gone is named with its fallback.
    _, flagged = ask("-c", "--max-tokens", "3", "Once more")
    assert flagged["stats"]["completion_tokens"] <= 3
    own.unlink()
    done, fallback = ask("-c", "Still there?")
    assert fallback["model_path"] == str(smollm2_path)
    assert "Own-R1" in done.stderr and "no longer at" in done.stderr
