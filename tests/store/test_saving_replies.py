"""Saving while streaming and resuming, with the real SmolLM2 model and a real SQLite file."""

from __future__ import annotations

import threading

import pytest

from r1chat.core.saving import resumed as resume_chat
from r1chat.core.saving import saving_to
from r1chat.core.session import ChatSession
from r1chat.domain import GenerationParams
from r1chat.engine.events import AnswerDelta
from r1chat.store import ChatStore
from tests.tui_helpers import last_reply

STORY = "Write a long story about a lighthouse."


@pytest.fixture
def store(tmp_path):
    chat_store = ChatStore(tmp_path / "chats.db")
    yield chat_store
    chat_store.close()


def statuses(store, conversation_id):
    return [(m.role, m.status) for m in store.conversation(conversation_id).messages]


def test_reply_is_saved_while_it_streams_then_completed(smol_engine, store):
    session = ChatSession(
        smol_engine, params=GenerationParams(max_tokens=24, temperature=0), observe=saving_to(store)
    )
    seen_streaming = False
    for event in session.reply(STORY):
        if isinstance(event, AnswerDelta) and session.conversation_id:
            rows = store.conversation(session.conversation_id).messages
            if len(rows) == 2 and rows[1].status == "streaming":
                seen_streaming = True
    assert seen_streaming
    conversation = store.conversation(session.conversation_id)
    user, reply = conversation.messages
    assert user.content == STORY and conversation.title == STORY.rstrip(".") + "."
    assert reply.status == "complete" and reply.content == last_reply(session).answer
    assert reply.parent_id == user.id and reply.model == smol_engine.info.model_name
    assert reply.stats["answer_tokens"] == 24 and reply.stats["finish_reason"] == "length"
    assert conversation.params["temperature"] == 0


def test_a_stopped_reply_is_saved_as_cancelled(smol_engine, store):
    session = ChatSession(
        smol_engine, params=GenerationParams(max_tokens=200), observe=saving_to(store)
    )
    cancel = threading.Event()
    for event in session.reply(STORY, cancel):
        if isinstance(event, AnswerDelta):
            cancel.set()
    assert statuses(store, session.conversation_id) == [
        ("user", "complete"),
        ("assistant", "cancelled"),
    ]
    assert (
        store.conversation(session.conversation_id).messages[1].content
        == last_reply(session).answer
    )


def test_resume_continues_from_stored_history(smol_engine, store):
    first = ChatSession(
        smol_engine, params=GenerationParams(max_tokens=8, temperature=0), observe=saving_to(store)
    )
    list(first.reply("My name is Ada."))
    cid = first.conversation_id
    assert cid is not None
    store.update_message(
        store.conversation(cid).messages[1].id, reasoning="PRIVATE-THOUGHT about Ada"
    )
    resumed = resume_chat(
        smol_engine, store, cid, params=GenerationParams(max_tokens=8, temperature=0)
    )
    assert [m.content for m in resumed.messages] == [m.content for m in first.messages]
    prompt = smol_engine.render([*resumed.messages]).text
    assert "My name is Ada." in prompt and "PRIVATE-THOUGHT" not in prompt
    list(resumed.reply("What is my name?"))
    messages = store.conversation(cid).messages
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2].parent_id == messages[1].id and messages[3].parent_id == messages[2].id


def test_disk_full_while_streaming_is_reported_once_and_recovers(smol_engine, store):
    from r1chat.errors import StoreFullError

    earlier = store.create_conversation(title="saved earlier")
    store.add_message(earlier.id, "user", "keep this")
    db = store.connection
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    for size in (2000, 400, 50, 1):  # fill the last free space: the disk is now full
        with pytest.raises(StoreFullError):
            for _ in range(10_000):
                store.add_message(earlier.id, "system", "x" * size)
    notices: list[str] = []
    session = ChatSession(
        smol_engine,
        params=GenerationParams(max_tokens=40, temperature=0),
        observe=saving_to(store, notices.append),
    )
    deltas = 0
    for event in session.reply(STORY):
        if isinstance(event, AnswerDelta):
            deltas += 1
            if deltas == 5:
                db.execute("PRAGMA max_page_count = 1000000")  # space was freed
    assert len(notices) == 1 and "disk is full" in notices[0]  # one notice, not one per flush
    assert session.conversation_id is not None  # saved once there was room
    user, reply = store.conversation(session.conversation_id).messages
    assert user.content == STORY
    assert reply.status == "complete" and reply.content == last_reply(session).answer
    assert store.conversation(earlier.id).messages[0].content == "keep this"
