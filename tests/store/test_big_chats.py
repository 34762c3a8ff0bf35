"""Very long chats: `show` prints them as text past a size, JSON is written a message a
line, and import reports progress as it writes; all linear (timed by `bench chats`)."""

from __future__ import annotations

import io
import json

import pytest

import r1chat.cli.chats as chats_cli
import r1chat.store.transfer as transfer
from r1chat.store.chats import ChatStore
from r1chat.store.transfer import conversation_document, export_json, import_json, readable_json


@pytest.fixture
def store(tmp_path):
    opened = ChatStore(tmp_path / "chats.db")
    yield opened
    opened.close()


def seeded(store: ChatStore) -> str:
    chat = store.create_conversation(title="Long \x1b[31mchat")
    parent = None
    for n in range(6):
        asked = store.add_message(
            chat.id, "user", f"Question {n} \x1b]52;c;x\x07é", parent_id=parent
        )
        parent = store.add_message(
            chat.id,
            "assistant",
            f"**Answer** {n}",
            reasoning=f"thinking {n}",
            parent_id=asked.id,
            status="complete" if n < 5 else "interrupted",
        ).id
    return chat.id


def test_past_the_laid_out_size_show_prints_the_same_transcript_as_text(store, monkeypatch):
    conversation = store.conversation(seeded(store))
    laid_out = io.StringIO()
    chats_cli.render_conversation(conversation, thinking=True, stream=laid_out)
    monkeypatch.setattr(chats_cli, "LAID_OUT", 3)
    plain = io.StringIO()
    chats_cli.render_conversation(conversation, thinking=True, stream=plain)
    text = plain.getvalue()
    assert text != laid_out.getvalue()
    assert text.count("── You ──") == 6 and text.count("── Assistant ──") == 6
    assert "Thinking:\nthinking 5\n\nAnswer:\n**Answer** 5" in text  # Markdown source
    assert "(interrupted)" in text and "\x1b" not in text and "\x07" not in text
    for n in range(6):
        assert f"Question {n}" in text and f"Question {n}" in laid_out.getvalue()


def test_json_a_message_a_line_reads_back_as_the_same_data(store):
    chat_id = seeded(store)
    document = conversation_document(store, chat_id)
    text = readable_json({"conversation": document}, [document])
    assert json.loads(text) == json.loads(json.dumps({"conversation": document}))
    lines = text.splitlines()
    assert sum(line.strip().startswith('{"id"') for line in lines) == 12
    empty = {"id": "x", "messages": []}
    assert json.loads(readable_json({"a": [empty]}, [empty])) == {"a": [empty]}
    ascii_text = readable_json(document, [document], ascii_only=True)
    assert ascii_text.isascii() and json.loads(ascii_text) == json.loads(json.dumps(document))


def test_import_reports_its_progress_and_round_trips(store, tmp_path, monkeypatch):
    exported = export_json(store, [seeded(store)], many=False)
    monkeypatch.setattr(transfer, "IMPORT_BATCH", 5)
    other = ChatStore(tmp_path / "other.db")
    seen: list[tuple[int, int]] = []
    imported, _, _ = import_json(other, exported, "chat.json", lambda *a: seen.append(a))
    assert seen == [(5, 12), (10, 12), (12, 12)]
    assert export_json(other, imported, many=False) == exported
    other.close()
