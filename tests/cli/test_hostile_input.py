"""Escape sequences and bidi overrides in model names and file names never reach the
terminal from the command line: `ask` (its status lines and `--json`), `models`, `use`."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import _r1_flavoured

EVIL_NAME = "Evil \x1b]52;c;aGk=\x07model \x9b31m\u202etxt.exe"
EVIL_FILE = "evil-\x1b[31m-\u202e-model.gguf"
RAW = ("\x1b", "\x9b", "\x9d", "\x07", "\u202e")


def assert_clean(text: str) -> None:
    assert not [c for c in RAW if c in text], repr(text[:400])


@pytest.mark.slow
def test_hostile_model_and_file_names_print_clean(
    smollm2_path, r1_template, home, r1chat_command, cli_env
):
    models = home / "data" / "models"
    models.mkdir(parents=True)
    model = _r1_flavoured(smollm2_path, r1_template, models / EVIL_FILE, EVIL_NAME)
    asked = subprocess.run(
        [*r1chat_command, "ask", "--model", str(model), "-n", "3", "-t", "0", "--json", "Hi"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert asked.returncode in (0, 3), asked.stderr
    assert_clean(asked.stdout)
    assert_clean(asked.stderr)
    document = json.loads(asked.stdout)
    assert document["model"] == "evil---model"  # its file's name, made safe to print
    listed = subprocess.run(
        [*r1chat_command, "models"], env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert "evil" in listed.stdout.lower()
    assert_clean(listed.stdout + listed.stderr)
    used = subprocess.run(
        [*r1chat_command, "use", str(model)], env=cli_env, capture_output=True, text=True
    )
    assert used.returncode == 0, used.stderr
    assert "Default model:" in used.stderr
    assert_clean(used.stdout + used.stderr)
    again = subprocess.run(  # the default now: "using the configured model …" on stderr
        [*r1chat_command, "ask", "-n", "2", "-t", "0", "Hi"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode in (0, 3), again.stderr
    assert_clean(again.stdout + again.stderr)
