"""A shared chat file never sends data anywhere; a URL never carries credentials into storage."""

from __future__ import annotations

import json

import pytest

from r1chat.paths import Paths
from r1chat.store import ChatStore
from tests.cli_helpers import run
from tests.sse_server import scripted_server

SHORT = ["--max-tokens", "8", "--temperature", "0"]


@pytest.mark.slow
def test_an_imported_chat_never_chooses_a_server_by_itself(r1chat_command, cli_env, home, tmp_path):
    with scripted_server() as server:
        store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
        chat = store.create_conversation(title="Shared with me", model="scripted-r1")
        store.update_conversation(
            chat.id, params={"model_path": f"{server.url}#scripted-r1", "n_ctx": 4096}
        )
        store.add_message(chat.id, "user", "Hello there")
        store.add_message(chat.id, "assistant", "Hi!")
        store.close()
        shared = tmp_path / "shared.json"
        exported = run(
            r1chat_command, cli_env, "export", chat.id, "--format", "json", "-o", str(shared)
        )
        assert exported.returncode == 0, exported.stderr
        document = json.loads(shared.read_text())
        conversation = document["conversation"]
        # Someone else's file: the same chat, naming a server with credentials in it.
        conversation["params"]["model_path"] = (
            server.url.replace("http://", "http://eve:pw@") + "#scripted-r1"
        )
        shared.write_text(json.dumps(document))

        other = {**cli_env, "R1CHAT_HOME": str(tmp_path / "other")}
        imported = run(r1chat_command, other, "import", str(shared))
        assert imported.returncode == 0, imported.stderr
        shown = json.loads(run(r1chat_command, other, "show", "--json", chat.id).stdout)
        assert shown["params"]["imported_from"].startswith("http://127.0.0.1:")
        assert "model_path" not in shown["params"]  # kept as a label, never run
        assert "pw@" not in json.dumps(shown) and "eve" not in json.dumps(shown)

        run(r1chat_command, other, "memory", "add", "My bank PIN is 1234.")
        answered = run(r1chat_command, other, "ask", "-c", "What did I say?", *SHORT)
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout.strip()  # the local demo model answered
        assert server.requests == [] and server.gets == []  # nothing was sent to the server
        shown = json.loads(run(r1chat_command, other, "show", "--json", chat.id).stdout)
        assert shown["params"]["model_path"].endswith(".gguf")  # the user's own model


@pytest.mark.parametrize(
    "url", ["http://alice:s3cretPW@127.0.0.1:9/v1", "https://alice:s3cretPW@example.invalid"]
)
def test_credentials_in_a_url_are_refused_and_never_written(r1chat_command, cli_env, home, url):
    for args in (["ask", "--remote", url, "hi"], ["--remote", url], ["models", "--remote", url]):
        done = run(r1chat_command, cli_env, *args, timeout=60)
        assert done.returncode == 1, (args, done.stderr)
        assert "user name or password" in done.stderr and "api_key_env" in done.stderr
        assert "s3cretPW" not in done.stderr + done.stdout
        assert len(done.stderr.strip().splitlines()) == 1
    for file in home.rglob("*"):
        if file.is_file():
            assert b"s3cretPW" not in file.read_bytes(), file


def test_odd_urls_are_one_sentence_and_an_upper_case_scheme_is_a_server(r1chat_command, cli_env):
    broken = run(r1chat_command, cli_env, "ask", "--remote", "http://[::1", "hi", timeout=60)
    assert broken.returncode == 1 and "is not an http(s) URL" in broken.stderr
    assert "unexpected error" not in broken.stderr
    with scripted_server() as server:
        loud = server.url.replace("http://", "HTTP://")
        done = run(r1chat_command, cli_env, "ask", "--remote", loud, "hi", "--max-tokens", "4")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "Hello" and len(server.requests) == 1


def test_a_chat_that_runs_on_a_server_says_so_wherever_its_model_is_shown(
    r1chat_command, cli_env, home
):
    from r1chat.ui.widgets.sidebar import conversation_line

    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    chat = store.create_conversation(title="On the big box", model="deepseek-r1")
    store.update_conversation(chat.id, params={"model_path": "http://10.0.0.9:8000/v1#deepseek-r1"})
    store.add_message(chat.id, "user", "hi")
    local = store.create_conversation(title="Here", model="SmolLM2")
    store.update_conversation(local.id, params={"model_path": "/models/smol.gguf"})
    store.add_message(local.id, "user", "hi")
    saved = store.conversation(chat.id, messages=False)
    store.close()
    listed = run(r1chat_command, {**cli_env, "COLUMNS": "120"}, "list")
    assert "deepseek-r1 (remote)" in listed.stdout and "SmolLM2 (remote)" not in listed.stdout
    shown = run(r1chat_command, cli_env, "show", chat.id)
    assert "deepseek-r1 (remote)" in shown.stdout
    exported = run(r1chat_command, cli_env, "export", chat.id, "--format", "md")
    assert "deepseek-r1 (remote)" in exported.stdout
    assert "deepseek-r1 (remote)" in conversation_line(saved, saved.updated_at).plain
