"""Presets from config.toml, the app's own sampling flags, help that fits 80 columns, and
one sentence for a model that is not downloaded yet."""

from __future__ import annotations

import json

import pytest

from r1chat.config import Settings, load_settings
from r1chat.errors import ConfigError
from r1chat.paths import Paths
from r1chat.store import ChatStore
from tests.cli_helpers import run

PRESETS = """
[presets.terse]
system = "Answer in one word."
max_tokens = 3
temperature = 0.0

[presets."code review"]
system = "You review Python code."
top_p = 0.9
thinking = false
"""


def write_config(home, text: str):
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    return config


def test_presets_are_read_and_checked(home):
    write_config(home, PRESETS)
    settings = load_settings(Paths.from_env())
    presets = settings.sections.presets
    assert list(presets) == ["terse", "code review"]
    assert presets["terse"].summary() == ('temperature 0.0 · max_tokens 3 · "Answer in one word."')
    assert settings.preset_values("code review") == {
        "system_prompt": "You review Python code.",
        "top_p": 0.9,
        "thinking": False,
    }
    with pytest.raises(
        ConfigError,
        match=r"No preset named 'terse2' in config.toml \(known: "
        r"terse, code review\)",
    ):
        settings.preset_values("terse2")


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ("[presets.hot]\ntemperature = 9\n", "[presets.hot] temperature in"),
        ("[presets.x]\nsystem = 3\n", "[presets.x] system in"),
        ("[presets.x]\ncolour = 'red'\n", "presets.x.colour in"),
        ('[presets."a[b]"]\nsystem = "x"\n', "[presets.a[b]] in"),
        ("[presets.x]\nmax_tokens = 0\n", "[presets.x] max_tokens in"),
    ],
)
def test_a_bad_preset_is_one_sentence_at_start(r1chat_command, cli_env, home, table, said):
    write_config(home, table)
    done = run(r1chat_command, cli_env, "ask", "hi")
    assert done.returncode != 0
    err = done.stderr.strip()
    assert said in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_ask_takes_a_preset_and_flags_win_over_it(r1chat_command, cli_env, home):
    write_config(home, PRESETS)
    done = run(r1chat_command, cli_env, "ask", "--preset", "terse", "--json", "Write a story.")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["stats"]["completion_tokens"] == 3
    store = ChatStore.open(Paths.from_env(cli_env))
    try:
        params = store.conversation(answer["conversation_id"]).params
        assert params["system_prompt"] == "Answer in one word."
    finally:
        store.close()
    done = run(r1chat_command, cli_env, "ask", "-p", "terse", "-n", "5", "--json", "Tell a story.")
    assert json.loads(done.stdout)["stats"]["completion_tokens"] == 5
    done = run(r1chat_command, cli_env, "ask", "--preset", "nope", "hi")
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "r1chat: No preset named 'nope' in config.toml (known: terse, code review); add a "
        '[presets.nope] table with system = "..." and any sampling.'
    )


def test_ask_takes_threads(r1chat_command, cli_env):
    done = run(r1chat_command, cli_env, "ask", "--threads", "1", "-n", "4", "--json", "Hi")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stats"]["threads"] == 1
    done = run(r1chat_command, cli_env, "ask", "--threads", "0", "hi")
    assert done.returncode != 0 and "threads" in done.stderr and "Traceback" not in done.stderr


def test_the_app_takes_the_flags_ask_takes(home, monkeypatch):
    """`r1chat --preset … --temperature … --threads …`: the app's settings and the first
    chat it opens take them (the app itself is not started here)."""
    from r1chat.cli.app import run_app
    from r1chat.ui.app import R1ChatApp

    write_config(home, PRESETS)
    seen: dict[str, object] = {}

    def run(self: R1ChatApp) -> None:
        seen["settings"], seen["explicit"] = self.settings, self.thinking_explicit

    monkeypatch.setattr(R1ChatApp, "run", run)
    run_app(
        model=None,
        continue_last=False,
        resume=None,
        thinking={"temperature": 0.3, "n_ctx": 1024, "system_prompt": None},
        preset="code review",
        threads=1,
    )
    settings = seen["settings"]
    assert isinstance(settings, Settings)
    assert settings.threads == 1 and settings.n_ctx == 1024
    assert settings.generation.temperature == 0.3 and settings.generation.top_p == 0.9
    assert settings.system_prompt == "You review Python code."
    assert seen["explicit"] == {
        "system_prompt": "You review Python code.",
        "top_p": 0.9,
        "thinking": False,
        "temperature": 0.3,
        "n_ctx": 1024,
    }


def test_the_app_refuses_bad_flags_in_one_sentence(r1chat_command, cli_env):
    done = run(r1chat_command, cli_env, "--temperature", "9")
    assert done.returncode != 0
    assert "temperature" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("group", ["", "memory", "cache", "bench"])
def test_help_summaries_fit_80_columns_whole(r1chat_command, cli_env, group):
    env = {**cli_env, "COLUMNS": "80"}
    done = run(r1chat_command, env, *([group] if group else []), "--help")
    assert done.returncode == 0
    commands = done.stdout.split("Commands:", 1)[1]
    assert "..." not in commands, commands
    assert all(len(line) <= 80 for line in done.stdout.splitlines())


def test_a_model_not_pulled_yet_says_so_wherever_it_is_named(r1chat_command, cli_env):
    said = (
        "r1chat: r1-7b is not downloaded yet: fetch it with `r1chat pull r1-7b` "
        "(then `r1chat use r1-7b` makes it the default)."
    )
    for args in (("ask", "-m", "r1-7b", "hi"), ("use", "r1-7b")):
        done = run(r1chat_command, cli_env, *args)
        assert done.returncode != 0 and done.stderr.strip() == said, args
    done = run(r1chat_command, {**cli_env, "R1CHAT_MODEL": "r1-1.5b"}, "ask", "hi")
    assert "r1-1.5b is not downloaded yet" in done.stderr
