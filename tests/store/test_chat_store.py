"""The chat store on real SQLite files: round trips, branches, search, migrations, faults."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from r1chat.errors import NotFoundError, R1ChatError, StoreError, StoreFullError
from r1chat.store import ChatStore, title_from
from r1chat.store.schema import SCHEMA_VERSION
from r1chat.store.search import HIT_END, HIT_START, fts_query, search
from tests.tui_helpers import latest_id

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def store(tmp_path):
    chat_store = ChatStore(tmp_path / "data" / "chats.db")
    yield chat_store
    chat_store.close()


def chat(store, *turns, title=""):
    conversation = store.create_conversation(title=title, model="test-model")
    for role, text in turns:
        store.add_message(conversation.id, role, text)
    return conversation.id


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_and_title(store):
    cid = chat(
        store, ("user", "  Why is the sky blue?\nPlease explain."), ("assistant", "Scattering.")
    )
    conversation = store.conversation(cid)
    assert conversation.title == "Why is the sky blue?"
    assert [m.role for m in conversation.messages] == ["user", "assistant"]
    assert conversation.messages[1].parent_id == conversation.messages[0].id
    assert conversation.message_count == 2 and conversation.model == "test-model"
    assert title_from("x" * 200).endswith("…") and len(title_from("x" * 200)) == 80
    assert title_from("\n\n   ") == "New chat"


def test_streaming_reply_updates_and_finishes(store):
    cid = chat(store, ("user", "hi"))
    reply = store.add_message(cid, "assistant", "Hel", reasoning="thinking", status="streaming")
    store.update_message(reply.id, content="Hello!", status="complete", stats={"answer_tokens": 3})
    saved = store.conversation(cid).messages[-1]
    assert (saved.content, saved.reasoning, saved.status) == ("Hello!", "thinking", "complete")
    assert saved.stats == {"answer_tokens": 3}


def test_list_is_newest_first_with_counts(store):
    first = chat(store, ("user", "first"))
    second = chat(store, ("user", "second"), ("assistant", "reply"))
    store.add_message(first, "assistant", "touched later")  # updating moves it to the top
    listed = store.list_conversations()
    assert [c.id for c in listed] == [first, second]
    assert [c.message_count for c in listed] == [2, 2]
    assert latest_id(store) == first


def test_id_prefixes(store):
    ids = [chat(store, ("user", f"chat {i}")) for i in range(3)]
    assert store.resolve(ids[0].lower()) == ids[0]
    assert store.resolve(ids[1][:14]) == ids[1]
    with pytest.raises(NotFoundError, match="more than one"):
        store.resolve(ids[0][:4])
    with pytest.raises(NotFoundError, match="No conversation"):
        store.resolve("ZZZZZZ")
    with pytest.raises(NotFoundError, match="not a conversation id"):
        store.resolve("hello world!")


def test_regenerated_reply_is_a_sibling_branch(store):
    cid = chat(store, ("user", "Tell a joke"))
    question = store.conversation(cid).messages[0]
    first = store.add_message(cid, "assistant", "Joke one")
    second = store.add_message(cid, "assistant", "Joke two", parent_id=question.id)
    assert first.parent_id == second.parent_id == question.id
    assert [m.content for m in store.conversation(cid).messages] == ["Tell a joke", "Joke two"]
    assert [m.content for m in store.branch(cid, first.id)] == ["Tell a joke", "Joke one"]
    assert len(store.all_messages(cid)) == 3


def test_rename_and_delete(store):
    cid = chat(store, ("user", "hello"), ("assistant", "hi"))
    store.rename(cid, "  Greetings   again ")
    assert store.conversation(cid).title == "Greetings again"
    store.delete(cid)
    with pytest.raises(NotFoundError):
        store.conversation(cid)
    assert store.connection.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert search(store, "hello") == []


def test_search_ranks_and_snippets(store):
    chat(store, ("user", "Tell me about cats"), ("assistant", "Cats purr. Cats nap. Cats."))
    dogs = chat(store, ("user", "And dogs?"), ("assistant", "Dogs bark; some cats visit."))
    hits = search(store, "cats")
    assert hits[0].conversation_id != dogs  # three mentions rank above one
    assert any(hit.field == "title" for hit in hits)
    assert all(HIT_START in hit.snippet and HIT_END in hit.snippet for hit in hits)
    assert search(store, "dogs bark")[0].conversation_id == dogs
    assert search(store, '"bark; some cats"')[0].conversation_id == dogs
    assert search(store, '"cats bark"') == []


def test_search_reasoning_only_when_asked(store):
    cid = store.create_conversation().id
    store.add_message(cid, "user", "question")
    store.add_message(cid, "assistant", "answer", reasoning="pondering photons deeply")
    assert search(store, "photons") == []
    hit = search(store, "photons", thinking=True)[0]
    assert hit.field == "reasoning" and "photons" in hit.plain_snippet


@pytest.mark.parametrize(
    "query", ["NOT", "a OR b", "col:x", '"unbalanced', "x*", "(", "NEAR(a b)", "^start"]
)
def test_search_treats_operators_as_words(store, query):
    chat(store, ("user", f"plain text with {query} inside"))
    if fts_query(query) is None:  # nothing searchable left: a clear error, not an FTS one
        with pytest.raises(R1ChatError, match="search is empty"):
            search(store, query)
    else:
        assert search(store, query)  # found as words, never an FTS syntax error


def test_connection_settings(store):
    db = store.connection
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_files_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        store = ChatStore(tmp_path / "data" / "chats.db")
        chat(store, ("user", "secret"))
        store.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    names = {p.name for p in (tmp_path / "data").iterdir()}
    assert "chats.db" in names
    for path in (tmp_path / "data").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_migrating_a_version_1_database_keeps_everything(tmp_path):
    path = tmp_path / "chats.db"
    db = sqlite3.connect(path)
    db.executescript((FIXTURES / "chats-v1.sql").read_text())
    db.close()
    before = digest(path)
    store = ChatStore(path)
    assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    backup = tmp_path / "chats.db.v1.bak"
    assert backup.exists() and stat.S_IMODE(backup.stat().st_mode) == 0o600
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT count(*) FROM messages").fetchone()[0] == 4
    old.close()
    conversation = store.conversation("01JB0000000000000000000001")
    assert [m.content for m in conversation.messages][1].startswith("Rayleigh")
    assert (conversation.messages[1].stats or {})["reasoning_tokens"] == 40
    assert store.recovered == 1 and conversation.messages[-1].status == "interrupted"
    assert search(store, "rayleigh")[0].conversation_id == conversation.id  # indexed on migration
    assert search(store, "photons", thinking=True)
    store.close()
    assert before != digest(path)


def test_a_database_from_a_newer_r1chat_is_refused_untouched(tmp_path):
    path = tmp_path / "chats.db"
    store = ChatStore(path)
    chat(store, ("user", "keep me"))
    store.connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store.close()
    before = digest(path)
    with pytest.raises(StoreError, match="newer r1chat") as raised:
        ChatStore(path)
    assert str(path) in str(raised.value)
    assert digest(path) == before


@pytest.mark.parametrize(
    "content",
    [b"not a database at all\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["text file", "damaged header"],
)
def test_a_non_sqlite_or_damaged_file_is_named_and_not_overwritten(tmp_path, content):
    path = tmp_path / "chats.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as raised:
        ChatStore(path)
    assert str(path) in str(raised.value) and "move it aside" in str(raised.value)
    assert path.read_bytes() == content


def test_disk_full_is_clear_and_recoverable(store):
    cid = chat(store, ("user", "saved before the disk filled"), ("assistant", "safe"))
    db = store.connection
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreFullError, match="disk is full"):
        for _ in range(200):
            store.add_message(cid, "user", "x" * 4000)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.execute("PRAGMA max_page_count = 1000000")
    store.add_message(cid, "user", "room again")
    contents = [m.content for m in store.conversation(cid).messages]
    assert contents[:2] == ["saved before the disk filled", "safe"]
    assert contents[-1] == "room again"


WRITER = """
import sys
from r1chat.store import ChatStore
store = ChatStore(__import__('pathlib').Path(sys.argv[1]))
cid = store.create_conversation(title=sys.argv[2]).id
for i in range(1000):
    store.add_message(cid, "user", f"{sys.argv[2]} message {i}")
store.close()
"""


def test_two_processes_write_at_once_without_errors(tmp_path):
    path = tmp_path / "chats.db"
    ChatStore(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], stderr=subprocess.PIPE)
        for name in ("alpha", "beta")
    ]
    errors = [writer.communicate(timeout=300)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    store = ChatStore(path)
    assert store.connection.execute("SELECT count(*) FROM messages").fetchone()[0] == 2000
    assert store.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


def test_a_very_common_word_ranks_the_newest_matches(store, monkeypatch):
    import r1chat.store.search as chats

    cid = store.create_conversation(title="Pets").id
    for index in range(30):
        store.add_message(cid, "user", f"note {index}: " + "cats " * (1 + index % 4) + "and dogs")
    everything = search(store, "cats", limit=50)
    assert len([h for h in everything if h.message_id]) == 30
    monkeypatch.setattr(chats, "RANK_WINDOW", 10)
    windowed = [h for h in search(store, "cats", limit=5) if h.message_id]
    newest = {m.id for m in store.all_messages(cid)[-10:]}
    assert len(windowed) == 5 and {h.message_id for h in windowed} <= newest
    assert [h.rank for h in windowed] == sorted(h.rank for h in windowed)
    assert all(HIT_START in h.snippet for h in windowed)
    # Within the window the ranking is BM25's: the most "cats" come first.
    assert windowed[0].plain_snippet.count("cats") == 4


@pytest.mark.parametrize("user_version", [0, 3])
def test_a_foreign_sqlite_database_is_refused_and_left_unchanged(tmp_path, user_version):
    path = tmp_path / "chats.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE notes (body TEXT)")
    other.execute("INSERT INTO notes VALUES ('mine')")
    other.execute(f"PRAGMA user_version = {user_version}")
    other.commit()
    other.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    mode = path.stat().st_mode
    with pytest.raises(StoreError, match="r1chat did not write"):
        ChatStore(path).list_conversations()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert path.stat().st_mode == mode
    assert not path.with_name("chats.db-wal").exists()


def test_a_start_leaves_another_live_process_reply_alone(tmp_path):
    from r1chat.store.chats import writer_tag

    path = tmp_path / "chats.db"
    store = ChatStore(path)
    chat = store.create_conversation(title="Two writers")
    question = store.add_message(chat.id, "user", "Hi")
    # A live writer: a real process that is still running (it sleeps while we check).
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json, sys, time\n"
            "from r1chat.store.chats import writer_tag\n"
            "print(json.dumps(writer_tag()), flush=True)\n"
            "time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        live_writer = json.loads(child.stdout.readline())
        live = store.add_message(
            chat.id,
            "assistant",
            "still coming",
            status="streaming",
            parent_id=question.id,
            stats={"writer": live_writer},
        )
        dead_writer = {**writer_tag(), "pid": 2**22 + 12345}  # no such process
        dead = store.add_message(
            chat.id,
            "assistant",
            "its process died",
            status="streaming",
            parent_id=question.id,
            stats={"writer": dead_writer},
        )
        reused = store.add_message(  # a pid now running something else
            chat.id,
            "assistant",
            "pid reused",
            status="streaming",
            parent_id=question.id,
            stats={"writer": {**live_writer, "started": -1}},
        )
        store.close()
        second = ChatStore(path)  # another process starts
        statuses = {m.id: m.status for m in second.all_messages(chat.id)}
        assert statuses[live.id] == "streaming"
        assert statuses[dead.id] == "interrupted" and statuses[reused.id] == "interrupted"
        assert second.recovered == 2
        second.close()
    finally:
        child.kill()
        child.wait()


def test_a_read_only_store_reads_and_refuses_writes_with_one_line(tmp_path):
    path = tmp_path / "chats.db"
    store = ChatStore(path)
    chat = store.create_conversation(title="Kept")
    store.add_message(chat.id, "user", "hello")
    store.close()
    before = digest(path)
    reader = ChatStore(path, read_only=True)  # what a read-only folder or file opens as
    assert reader.read_only
    assert [c.title for c in reader.list_conversations()] == ["Kept"]
    assert reader.conversation(chat.id).messages[0].content == "hello"
    assert search(reader, "hello")
    with pytest.raises(StoreError, match="read-only"):
        reader.add_message(chat.id, "user", "more")
    with pytest.raises(StoreError, match="read-only"):
        reader.rename(chat.id, "New")
    reader.close()
    assert digest(path) == before


def test_a_disk_too_full_to_open_for_writing_opens_read_only(tmp_path, monkeypatch):
    import r1chat.store.chats as chats
    from r1chat.store.database import translate_errors

    path = tmp_path / "chats.db"
    store = ChatStore(path)
    store.create_conversation(title="Saved before the disk filled")
    store.close()

    def no_room(database):  # what SQLite says when it cannot create its WAL files
        with translate_errors(database):
            raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(chats, "connect", no_room)
    reader = ChatStore(path)
    assert reader.read_only and reader.read_only_reason == "the disk is full or failing"
    assert [c.title for c in reader.list_conversations()] == ["Saved before the disk filled"]
    with pytest.raises(StoreError, match="nothing new is saved"):
        reader.create_conversation(title="No room")
    reader.close()


@pytest.mark.slow
def test_closing_the_store_while_other_threads_write_never_breaks_them(tmp_path):
    # Quitting the app closes the store while a reply may still be saving on its thread:
    # closing a connection under a running statement crashed the process.
    import threading

    store = ChatStore(tmp_path / "chats.db")
    chat = store.create_conversation(title="Busy")
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for index in range(150):
                message = store.add_message(chat.id, "user", f"line {index} " * 50)
                store.update_message(message.id, content="changed " * 60)
                store.list_conversations()
        except BaseException as error:
            errors.append(error)

    writers = [threading.Thread(target=write) for _ in range(3)]
    for writer in writers:
        writer.start()
    while any(writer.is_alive() for writer in writers):
        store.close()
    for writer in writers:
        writer.join()
    assert errors == []
    assert store.conversation(chat.id).messages[-1].content.startswith("changed")
    store.close()


def test_sqlite_errors_are_told_apart_by_sqlite_s_own_name(tmp_path):
    import sqlite3 as sqlite

    from r1chat.errors import StoreError, StoreFullError
    from r1chat.store.database import error_name, translate_errors

    locked = sqlite.OperationalError("whatever the message says")
    locked.sqlite_errorname = "SQLITE_BUSY"
    with pytest.raises(StoreError, match="stayed locked"), translate_errors(tmp_path / "c.db"):
        raise locked
    full = sqlite.OperationalError("no words about space here")
    full.sqlite_errorname = "SQLITE_FULL"
    with pytest.raises(StoreFullError), translate_errors(tmp_path / "c.db"):
        raise full
    # A real one from SQLite carries its name.
    first = sqlite.connect(tmp_path / "real.db", timeout=0)
    first.execute("CREATE TABLE t (x)")
    first.execute("BEGIN EXCLUSIVE")
    second = sqlite.connect(tmp_path / "real.db", timeout=0)
    with pytest.raises(sqlite.OperationalError) as caught:
        second.execute("SELECT * FROM t")
    assert error_name(caught.value).startswith("SQLITE_BUSY")
    first.close()
    second.close()


def test_a_database_deleted_under_the_store_is_written_back_whole(tmp_path):
    import os

    path = tmp_path / "chats.db"
    store = ChatStore(path)
    told: list[str] = []
    store.on_restored = told.append
    chat = store.create_conversation(title="keep")
    for index in range(30):
        store.add_message(chat.id, "user", f"message {index}")
    os.unlink(path)
    store.add_message(chat.id, "user", "after")
    store.close()
    assert len(told) == 1 and "was deleted while r1chat ran" in told[0]
    again = ChatStore(path)
    try:
        assert len(again.all_messages(chat.id)) == 31
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        again.close()
