"""The saved-chat commands end to end: ask -c/--resume/--no-save, list, show, search, export."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess

import pytest

from r1chat.store import ChatStore
from tests.cli_helpers import run

SHORT = ["--max-tokens", "8", "--temperature", "0"]
HOSTILE = (
    "Click [link=file:///etc/passwd]here[/link] or [@click=app.quit]quit[/] [/INST] "
    "\x1b]52;c;cHduZWQ=\x07\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ "
    "\x1b[2J\x1b[31mred\x9b0m\x85 end"
)
CONTROL = ("\x1b", "\x07", "\x9b", "\x85", "\x9d")


def open_store(home):
    return ChatStore(home / "data" / "chats.db")


@pytest.mark.slow
def test_ask_saves_continues_and_resumes(r1chat_command, cli_env, home):
    first = run(r1chat_command, cli_env, "ask", "My name is Ada.", *SHORT)
    assert first.returncode == 0, first.stderr
    store = open_store(home)
    conversation = store.latest()
    assert f"r1chat: saved as {conversation.id}" in first.stderr
    again = run(r1chat_command, cli_env, "ask", "-c", "What is my name?", *SHORT, "--json")
    assert json.loads(again.stdout)["conversation_id"] == conversation.id
    other = run(r1chat_command, cli_env, "ask", "A new topic.", *SHORT)
    assert other.returncode == 0
    resumed = run(r1chat_command, cli_env, "ask", "--resume", conversation.id[:14], "Bye.", *SHORT)
    assert resumed.returncode == 0, resumed.stderr
    messages = store.conversation(conversation.id).messages
    assert [m.content for m in messages[::2]] == ["My name is Ada.", "What is my name?", "Bye."]
    assert all(m.status == "complete" for m in messages)
    assert store.count_conversations() == 2
    unsaved = run(r1chat_command, cli_env, "ask", "--no-save", "Forget this.", *SHORT)
    assert unsaved.returncode == 0 and "saved as" not in unsaved.stderr
    assert store.count_conversations() == 2
    store.close()


def test_continue_with_nothing_saved_is_a_clear_error(r1chat_command, cli_env):
    done = run(r1chat_command, cli_env, "ask", "-c", "hello", *SHORT)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "r1chat: There is no saved conversation to continue; drop -c to start one."
    )


@pytest.fixture
def saved(home):
    store = open_store(home)
    chats = {}
    for title, question, answer, reasoning in (
        (
            "Sky colour",
            "Why is the sky blue?",
            "Because of **Rayleigh** scattering.",
            "photons bounce",
        ),
        (
            "Bread",
            "How do I bake bread?",
            "Knead, rise, bake.\n\n```python\nprint('loaf')\n```",
            "",
        ),
        ("Hostile", HOSTILE, HOSTILE, HOSTILE),
    ):
        conversation = store.create_conversation(title=title, model="Test Model")
        store.add_message(conversation.id, "user", question)
        store.add_message(conversation.id, "assistant", answer, reasoning=reasoning)
        chats[title] = conversation.id
    store.close()
    return chats


def test_list_and_show_json(r1chat_command, cli_env, saved):
    listed = json.loads(run(r1chat_command, cli_env, "list", "--json").stdout)
    assert [item["title"] for item in listed] == ["Hostile", "Bread", "Sky colour"]
    assert {"id", "title", "model", "message_count", "created_at", "updated_at"} == set(listed[0])
    assert listed[0]["message_count"] == 2
    shown = json.loads(
        run(r1chat_command, cli_env, "show", saved["Sky colour"][:14], "--json").stdout
    )
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"]
    assert shown["messages"][1]["reasoning"] == "photons bounce"
    assert {"content", "reasoning", "status", "stats"} <= set(shown["messages"][1])
    # One vocabulary: `show --json` names a message's fields as an export does.
    exported = json.loads(
        run(r1chat_command, cli_env, "export", saved["Sky colour"], "--format", "json").stdout
    )["conversation"]
    assert set(shown["messages"][1]) == {*exported["messages"][1], "no_answer"}
    assert set(shown) - {"message_count"} == set(exported)


def test_show_renders_markdown_and_dims_reasoning_on_request(r1chat_command, cli_env, saved):
    plain = run(r1chat_command, cli_env, "show", saved["Sky colour"]).stdout
    assert "Rayleigh scattering" in plain and "**" not in plain
    assert "photons bounce" not in plain
    thinking = run(r1chat_command, cli_env, "show", saved["Sky colour"], "--thinking").stdout
    assert "photons bounce" in thinking
    # Piped, no style tells them apart: labels do, reasoning first.
    reasoning_at, answer_at = thinking.index("Thinking:"), thinking.index("Answer:")
    assert reasoning_at < thinking.index("photons bounce") < answer_at
    assert answer_at < thinking.index("Rayleigh scattering")


@pytest.mark.slow
def test_search_finds_answers_titles_and_reasoning(r1chat_command, cli_env, saved):
    hits = json.loads(run(r1chat_command, cli_env, "search", "rayleigh", "--json").stdout)
    assert hits[0]["conversation_id"] == saved["Sky colour"] and hits[0]["field"] == "answer"
    assert "Rayleigh" in hits[0]["snippet"]
    assert json.loads(run(r1chat_command, cli_env, "search", "photons", "--json").stdout) == []
    hits = json.loads(
        run(r1chat_command, cli_env, "search", "photons", "--thinking", "--json").stdout
    )
    assert hits[0]["field"] == "reasoning"
    text = run(r1chat_command, cli_env, "search", "photons", "--thinking").stdout
    assert "in the thinking" in text
    text = run(r1chat_command, cli_env, "search", "bread").stdout
    assert saved["Bread"][:12] in text and "Bread" in text


def test_rename_and_rm(r1chat_command, cli_env, saved, home):
    target = saved["Bread"]
    assert run(r1chat_command, cli_env, "rename", target[:14], "Sourdough notes").returncode == 0
    refused = run(r1chat_command, cli_env, "rm", target[:14])
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert run(r1chat_command, cli_env, "rm", target[:14], "--yes").returncode == 0
    store = open_store(home)
    assert [c.title for c in store.list_conversations()] == ["Hostile", "Sky colour"]
    store.close()


@pytest.mark.slow
def test_bad_ids_are_clear(r1chat_command, cli_env, saved):
    for args, expected in (
        (["show", "ZZZZZZZZ"], "No conversation with an id starting 'ZZZZZZZZ'"),
        (["show", "0"], "matches more than one conversation"),
        (["rm", "not-an-id!", "--yes"], "is not a conversation id"),
        (["export"], "Give one conversation id, or --all"),
        (["search", '""'], "The search is empty"),
    ):
        done = run(r1chat_command, cli_env, *args)
        assert done.returncode == 1, args
        assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_json_export_import_round_trips_exactly(r1chat_command, cli_env, saved, home, tmp_path):
    store = open_store(home)
    question = store.conversation(saved["Bread"]).messages[0]
    store.add_message(saved["Bread"], "assistant", "A second version", parent_id=question.id)
    store.close()
    everything = tmp_path / "all.json"
    done = run(
        r1chat_command, cli_env, "export", "--all", "--format", "json", "-o", str(everything)
    )
    assert done.returncode == 0, done.stderr
    original = everything.read_text()
    fresh = dict(cli_env, R1CHAT_HOME=str(tmp_path / "other-home"))
    imported = run(r1chat_command, fresh, "import", str(everything))
    assert imported.returncode == 0 and "Imported 3" in imported.stderr
    again = tmp_path / "again.json"
    run(r1chat_command, fresh, "export", "--all", "--format", "json", "-o", str(again))
    assert again.read_text() == original
    data = json.loads(original)
    hostile = next(c for c in data["conversations"] if c["title"] == "Hostile")
    assert hostile["messages"][0]["content"] == HOSTILE  # raw text kept exactly
    assert not any(ch in original for ch in CONTROL)  # ...but escaped in the file
    twice = run(r1chat_command, fresh, "import", str(everything))
    assert "Imported 0" in twice.stderr and "Skipped 3" in twice.stderr


def test_single_markdown_and_json_exports(r1chat_command, cli_env, saved, tmp_path):
    markdown = run(r1chat_command, cli_env, "export", saved["Sky colour"], "--thinking").stdout
    assert markdown.startswith("# Sky colour")
    assert "## You" in markdown and "**Rayleigh**" in markdown and "photons bounce" in markdown
    one = run(r1chat_command, cli_env, "export", saved["Sky colour"], "--format", "json").stdout
    assert json.loads(one)["conversation"]["title"] == "Sky colour"


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["show", "{Hostile}", "--thinking"],
        ["search", "click"],
        ["search", "red", "--thinking"],
        ["export", "{Hostile}", "--thinking"],
        ["export", "{Hostile}", "--format", "json"],
        ["list", "--json"],
        ["show", "{Hostile}", "--json"],
    ],
)
@pytest.mark.slow
def test_hostile_text_never_reaches_the_terminal_raw(r1chat_command, cli_env, saved, args):
    args = [arg.replace("{Hostile}", saved["Hostile"]) for arg in args]
    done = run(r1chat_command, cli_env, *args)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert not any(ch in output for ch in CONTROL), repr(output)
    if args[0] in ("show", "export") and "--json" not in args and "json" not in args:
        assert "[link=file:///etc/passwd]here[/link]" in output  # shown as text, not markup
        assert "[@click=app.quit]quit[/]" in output and "[/INST]" in output


@pytest.mark.slow
def test_bad_import_files(r1chat_command, cli_env, tmp_path):
    cases = {
        "missing.json": (None, "No file at"),
        "notjson.json": ("{nope", "is not JSON"),
        "other.json": ('{"hello": 1}', "is not an r1chat export"),
        "future.json": (
            '{"format": "r1chat-export", "version": 9, "conversations": []}',
            "version 9",
        ),
        "broken.json": (
            '{"format": "r1chat-conversation", "version": 1, "conversation": {"id": "X"}}',
            "missing or wrong field",
        ),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        done = run(r1chat_command, cli_env, "import", str(path))
        assert done.returncode == 1 and expected in done.stderr, (name, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_corrupt_database_is_named_and_kept(r1chat_command, cli_env, home):
    database = home / "data" / "chats.db"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"garbage that is not sqlite" * 50)
    done = run(r1chat_command, cli_env, "list")
    assert done.returncode == 1
    assert str(database) in done.stderr and "move it aside" in done.stderr
    assert database.read_bytes() == b"garbage that is not sqlite" * 50
    asked = run(r1chat_command, cli_env, "ask", "hi", *SHORT)
    assert asked.returncode == 1 and str(database) in asked.stderr


A, B, GHOST = ("01M8AAAAAAAAAAAAAAAAAAAAA" + c for c in "129")


def _export_with(messages: list[dict[str, object]], **conversation) -> str:
    document = {
        "id": "01M8AAAAAAAAAAAAAAAAAAAAAA",
        "title": "Imported",
        "created_at": 1_700_000_000.0,
        "updated_at": 1_700_000_000.0,
        "messages": messages,
        **conversation,
    }
    return json.dumps({"format": "r1chat-conversation", "version": 1, "conversation": document})


def _message(message_id: str, parent: str | None, **fields) -> dict[str, object]:
    return {
        "id": message_id,
        "role": "user",
        "content": "hi",
        "parent_id": parent,
        "created_at": 1_700_000_000.0,
        "updated_at": 1_700_000_000.0,
        **fields,
    }


@pytest.mark.parametrize(
    ("messages", "conversation", "expected"),
    [
        ([_message(A, A)], {}, "go round in a loop"),
        ([_message(A, B), _message(B, A)], {}, "go round in a loop"),
        ([_message(A, GHOST)], {}, "not in the conversation"),
        ([_message(A, None), _message(A, None)], {}, "appears twice"),
        ([_message(A, None, content=None)], {}, "content that is not text"),
        ([_message(A, None, created_at=1e300)], {}, "impossible created_at"),
        ([_message(A, None)], {"updated_at": -5}, "impossible date"),
        ([_message("not-an-id", None)], {}, "is not an r1chat id"),
        ([_message(A, None, stats=[1, 2])], {}, "stats that are not an object"),
        ([_message(A, None, stats={"tokens": {"deep": [1]}})], {}, "not plain numbers"),
    ],
)
@pytest.mark.slow
def test_import_refuses_loops_strays_and_impossible_values_before_writing(
    messages, conversation, expected, r1chat_command, cli_env, tmp_path
):
    path = tmp_path / "bad.json"
    path.write_text(_export_with(messages, **conversation))
    done = run(r1chat_command, cli_env, "import", str(path), timeout=30)
    assert done.returncode == 1 and expected in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    listed = run(r1chat_command, cli_env, "list", "--json")
    assert json.loads(listed.stdout) == []  # nothing was written


def test_a_parent_loop_already_in_the_store_never_hangs(r1chat_command, cli_env, home):
    from r1chat.paths import Paths
    from r1chat.store import ChatStore

    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    chat = store.create_conversation(title="Looped")
    first = store.add_message(chat.id, "user", "one")
    second = store.add_message(chat.id, "assistant", "two")
    with store.transaction() as db:  # written by a broken tool: each is the other's parent
        db.execute("UPDATE messages SET parent_id = ? WHERE id = ?", (second.id, first.id))
    store.close()
    for args in (("show", chat.id), ("export", chat.id), ("list",)):
        done = run(r1chat_command, cli_env, *args, timeout=30)
        assert done.returncode == 0, (args, done.stderr)
    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    assert len(store.branch(chat.id)) == 2
    assert store.newest_leaf(first.id) in (first.id, second.id)
    store.close()


def test_a_failed_private_write_leaves_nothing_behind(tmp_path, monkeypatch):
    from r1chat.files import write_private

    target = tmp_path / "chat.md"
    target.write_text("kept")

    def no_room(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_room)
    with pytest.raises(OSError):
        write_private(target, "new text")
    assert target.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat.md"]


def test_exports_and_config_are_private_whatever_the_umask(
    r1chat_command, cli_env, saved, home, tmp_path
):
    chat = saved["Sky colour"]
    out = tmp_path / "out"
    out.mkdir()
    target = out / "chat.md"
    open_umask = f"umask 000; exec {' '.join(r1chat_command)} "
    done = subprocess.run(
        ["sh", "-c", open_umask + f"export {chat} -o {target}"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    again = run(r1chat_command, cli_env, "export", chat, "-o", str(target))
    assert again.returncode == 1 and "already exists; add --force" in again.stderr
    forced = run(r1chat_command, cli_env, "export", chat, "-o", str(target), "--force")
    assert forced.returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["chat.md"]  # no temporary file left
    from r1chat.config import save_setting
    from r1chat.paths import Paths

    old = os.umask(0)
    try:
        save_setting(Paths.from_env({"R1CHAT_HOME": str(home)}), "ui", "theme", "r1-light")
    finally:
        os.umask(old)
    config = home / "config" / "config.toml"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert oct(config.parent.stat().st_mode & 0o777) == "0o700"


def test_one_bad_conversation_is_named_while_the_rest_import(r1chat_command, cli_env, tmp_path):
    good = json.loads(_export_with([_message(A, None)]))["conversation"]
    bad = {**json.loads(_export_with([_message(B, B)]))["conversation"], "id": GHOST}
    path = tmp_path / "mixed.json"
    path.write_text(
        json.dumps({"format": "r1chat-export", "version": 1, "conversations": [good, bad]})
    )
    done = run(r1chat_command, cli_env, "import", str(path), timeout=30)
    assert done.returncode == 1
    assert "Imported 1 conversation(s)." in done.stderr
    assert f"conversation {GHOST}" in done.stderr and "go round in a loop" in done.stderr
    assert "1 conversation(s) in" in done.stderr and "the others were" in done.stderr
    listed = json.loads(run(r1chat_command, cli_env, "list", "--json").stdout)
    assert [c["id"] for c in listed] == [good["id"]]


def test_a_reply_whose_writer_died_reads_as_interrupted_everywhere(r1chat_command, cli_env, home):
    """After `kill -9` of the writer, every read says `interrupted` before any writer runs."""
    from r1chat.store.chats import writer_tag

    store = open_store(home)
    chat = store.create_conversation(title="Cut")
    question = store.add_message(chat.id, "user", "Tell me a long story")
    dead = {**writer_tag(), "pid": 2**22 + 4321}  # no such process
    store.add_message(
        chat.id,
        "assistant",
        "Once upon",
        status="streaming",
        parent_id=question.id,
        stats={"writer": dead},
    )
    store.close()
    with sqlite3.connect(home / "data" / "chats.db") as db:  # the row itself still says so
        assert (
            db.execute("SELECT count(*) FROM messages WHERE status = 'streaming'").fetchone()[0]
            == 1
        )
    shown = json.loads(run(r1chat_command, cli_env, "show", "--json", chat.id).stdout)
    assert [m["status"] for m in shown["messages"]] == ["complete", "interrupted"]
    again = open_store(home)
    try:
        assert again.branch(chat.id)[-1].status == "interrupted"
    finally:
        again.close()


@pytest.mark.slow
def test_ask_killed_mid_reply_reads_as_interrupted_before_it_is_reaped(
    r1chat_command, cli_env, home
):
    """The killed writer is a zombie until its parent reaps it: it must not count as alive."""
    import signal
    import time

    writer = subprocess.Popen(
        [*r1chat_command, "ask", "--max-tokens", "2000", "Write a very long story."],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cli_env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (home / "data" / "chats.db").exists():
                with sqlite3.connect(home / "data" / "chats.db") as db:
                    try:
                        rows = db.execute(
                            "SELECT count(*) FROM messages "
                            "WHERE status = 'streaming' AND content != ''"
                        ).fetchone()[0]
                    except sqlite3.OperationalError:  # the file is there, its tables not yet
                        rows = 0
                if rows:
                    break
            time.sleep(0.1)
        os.kill(writer.pid, signal.SIGKILL)
        time.sleep(0.3)  # dead, and deliberately not reaped yet (a zombie)
        listed = json.loads(run(r1chat_command, cli_env, "list", "--json").stdout)
        shown = json.loads(run(r1chat_command, cli_env, "show", "--json", listed[0]["id"]).stdout)
        assert shown["messages"][-1]["status"] == "interrupted"
    finally:
        writer.kill()
        writer.wait()


@pytest.mark.parametrize("kind", ["dangling link", "link to a file", "fifo", "folder"])
def test_export_never_writes_through_a_link_or_onto_a_special_file(
    r1chat_command, cli_env, home, tmp_path, kind
):
    store = open_store(home)
    chat = store.create_conversation(title="Keep")
    store.add_message(chat.id, "user", "hello")
    store.close()
    target = tmp_path / "out.md"
    victim = tmp_path / "victim.txt"
    if kind == "dangling link":
        target.symlink_to(tmp_path / "nowhere.md")
    elif kind == "link to a file":
        victim.write_text("keep me")
        target.symlink_to(victim)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    done = run(r1chat_command, cli_env, "export", chat.id, "-o", str(target), "--force")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "regular file" in done.stderr
    assert not (tmp_path / "nowhere.md").exists()
    if kind == "link to a file":
        assert victim.read_text() == "keep me" and target.is_symlink()
    if kind == "fifo":
        assert not target.is_file() and target.exists()


@pytest.mark.slow
def test_two_asks_continuing_one_chat_at_once_make_siblings(r1chat_command, cli_env, home):
    """A second `ask -c` while the first still writes its reply: the new question hangs off
    the same message as the first one did (two versions), not off the unfinished reply."""
    import sys

    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json, time; from r1chat.store.chats import writer_tag; "
            "print(json.dumps(writer_tag()), flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        live = json.loads(writer.stdout.readline())
        store = open_store(home)
        chat = store.create_conversation(title="Busy")
        first_q = store.add_message(chat.id, "user", "Hello")
        first_a = store.add_message(chat.id, "assistant", "Hi!", parent_id=first_q.id)
        other_q = store.add_message(chat.id, "user", "Tell me a story", parent_id=first_a.id)
        store.add_message(
            chat.id,
            "assistant",
            "Once",
            status="streaming",
            parent_id=other_q.id,
            stats={"writer": live},
        )
        store.close()
        done = run(r1chat_command, cli_env, "ask", "-c", "And a poem?", "--max-tokens", "8")
        assert done.returncode == 0, done.stderr
        store = open_store(home)
        try:
            mine = next(m for m in store.all_messages(chat.id) if m.content == "And a poem?")
            assert mine.parent_id == first_a.id  # beside the other question, as a version
        finally:
            store.close()
    finally:
        writer.kill()
        writer.wait()


def test_links_of_a_long_chain_are_checked_in_one_pass_and_loops_still_found():
    from r1chat.domain import Message
    from r1chat.store.transfer import _link_problem

    def message(index: int, parent: int | None) -> Message:
        return Message(
            f"m{index}",
            "c",
            "user",
            "x",
            "",
            "complete",
            None if parent is None else f"m{parent}",
            None,
            None,
            1.0,
            1.0,
        )

    chain = [message(0, None), *(message(i, i - 1) for i in range(1, 200_000))]
    assert _link_problem(chain) is None  # 200,000 messages, one pass each
    looped = [message(0, 2), message(1, 0), message(2, 1), message(3, None)]
    assert _link_problem(looped) == "message m0's parents go round in a loop"


def test_json_nested_too_deep_is_one_sentence(r1chat_command, cli_env, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    done = run(r1chat_command, cli_env, "import", str(deep))
    assert done.returncode == 1 and "nests its JSON too deep" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_show_prints_a_message_of_megabytes_whole(r1chat_command, cli_env, home):
    store = open_store(home)
    chat = store.create_conversation(title="Huge")
    big = ("lorem ipsum dolor sit amet " * 40 + "\n") * 1000 + "THE END\x1b[31m"
    store.add_message(chat.id, "user", big)
    store.add_message(chat.id, "assistant", "# Short\n\nfine")
    store.close()
    done = run(r1chat_command, cli_env, "show", chat.id)
    assert done.returncode == 0, done.stderr
    assert "THE END" in done.stdout and "\x1b[31m" not in done.stdout
    assert done.stdout.count("lorem ipsum") == 40_000 and "fine" in done.stdout


def test_a_time_zone_python_cannot_hold_does_not_fail_stats(r1chat_command, cli_env, home):
    store = open_store(home)
    chat = store.create_conversation(title="Zone")
    store.add_message(chat.id, "user", "hi")
    store.add_message(
        chat.id, "assistant", "hello", model="m", stats={"prompt_tokens": 5, "answer_tokens": 2}
    )
    store.close()
    for zone in ("UTC+99", "Nowhere/Atlantis"):
        done = run(r1chat_command, {**cli_env, "TZ": zone}, "stats")
        assert done.returncode == 0, done.stderr
        assert "unexpected error" not in done.stderr and "1 repl" in done.stdout


def test_search_in_a_message_of_megabytes_answers_with_a_snippet(r1chat_command, cli_env, home):
    """A word repeated through megabytes (SQLite's own snippet took minutes there)."""
    store = open_store(home)
    chat = store.create_conversation(title="Huge")
    store.add_message(chat.id, "user", "lorem ipsum dolor " * 300_000 + " needle")
    store.add_message(chat.id, "assistant", "short answer about lorem")
    store.close()
    done = run(r1chat_command, cli_env, "search", "lorem", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Huge") == 2 and "lorem ipsum dolor" in done.stdout
    found = run(r1chat_command, cli_env, "search", "needle", timeout=60)
    assert found.returncode == 0 and "needle" in found.stdout
