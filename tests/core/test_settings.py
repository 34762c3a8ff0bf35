"""Every table of config.toml is typed and checked when the file is read: one sentence per error."""

from __future__ import annotations

import pytest

from r1chat.config import CacheSettings, RemoteSettings, StatsSettings, UISettings, load_settings
from r1chat.errors import ConfigError
from r1chat.paths import Paths


def settings_from(tmp_path, text: str):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)
    return load_settings(paths, {})


def test_every_table_is_typed(tmp_path):
    settings = settings_from(
        tmp_path,
        "[ui]\ntheme = 'r1-light'\nthinking = 'hidden'\n"
        "[keymap]\n'chat.regenerate' = 'ctrl+g'\n"
        "[remotes.big]\nurl = 'http://127.0.0.1:8000'\nmodel = 'r1'\nn_ctx = 32768\n"
        "[cache]\nresume = false\nsize_gb = 0.5\n"
        "[prices.mine]\ninput = 1.0\noutput = 2.0\ndate = '2026-01-01'\n"
        "[stats]\ncompare = ['mine']\n",
    )
    sections = settings.sections
    assert sections.ui == UISettings("r1-light", "hidden")
    assert sections.keymap == {"chat.regenerate": "ctrl+g"}
    assert sections.remotes["big"] == RemoteSettings(
        "http://127.0.0.1:8000", "r1", None, 300.0, None, 32768
    )
    assert sections.cache == CacheSettings(resume=False, size_gb=0.5)
    assert sections.prices["mine"]["output"] == 2.0
    assert sections.stats == StatsSettings(("mine",))


@pytest.mark.parametrize(
    ("text", "named", "allowed"),
    [
        ("[cache]\nresume = 'no'\n", "cache.resume", "true or false"),
        ("[cache]\nsize_gb = nan\n", "cache.size_gb", "gigabytes"),
        ("[cache]\nsize_gb = inf\n", "cache.size_gb", "gigabytes"),
        ("[cache]\nsize_gb = 1e300\n", "cache.size_gb", "gigabytes"),
        ("[cache]\nsize = 2\n", "cache.size", "no such setting"),
        ("[remotes.x]\nurl = 'http://h'\nread_timeout = nan\n", "read_timeout", "seconds"),
        ("[remotes.x]\nurl = 'http://h'\nread_timeout = 1e300\n", "read_timeout", "seconds"),
        ("[remotes.x]\nurl = 'http://h'\nreply_timeout = 0\n", "reply_timeout", "seconds"),
        ("[remotes.x]\nmodel = 'm'\n", "[remotes.x] url", "the server's address"),
        ("[remotes.x]\nurl = 'http://h'\napi_key = 's3cret'\n", "api_key", "environment"),
        ("[remotes.x]\nurl = 'http://h'\nn_ctx = -5\n", "n_ctx", "whole number of tokens"),
        ("[prices.o1]\noutput = nan\n", "[prices.o1] output", "dollars per million"),
        ("[prices.o1]\ninput = inf\n", "[prices.o1] input", "dollars per million"),
        ("[prices.o1]\ninput = 1e308\n", "[prices.o1] input", "dollars per million"),
        ("[stats]\ncompare = 'o1'\n", "stats.compare", "a list of price keys"),
        ("[ui]\nthinking = 'sideways'\n", "ui.thinking", "expanded, collapsed, hidden"),
        ("[keymap]\n'app.quit' = 3\n", "keymap.app.quit", "keys such as"),
        ("[remotes]\nx = 1\n", "[remotes.x]", "a table"),
        ("[colours]\nred = 1\n", "colours", "known:"),
        ("threads = 10000\n", "threads", "twice the CPUs"),
        ("gpu_layers = -2\n", "gpu_layers", "whole number of layers"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_key_and_range(tmp_path, text, named, allowed):
    with pytest.raises(ConfigError) as raised:
        settings_from(tmp_path, text)
    message = str(raised.value)
    assert named in message and allowed in message, message
    assert "config.toml" in message and "\n" not in message and message.endswith(".")
