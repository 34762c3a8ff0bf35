"""Provides the typed tables of `config.toml` other than the model and generation settings.

Each table is checked once, when the file is read: a wrong type, an unknown key or a
value out of range is one sentence naming the file, the key and what is allowed.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field
from typing import Any

from r1chat.errors import ConfigError

READ_TIMEOUT = 300.0
"""Seconds to wait between two chunks from a server: a reasoning model's first token can
take minutes."""
REPLY_TIMEOUT = 3600.0
"""Seconds one reply from a server may take in all (a reasoning model on a slow server can
think for many minutes; a server that never stops is stopped)."""
PREFILL_KINDS = ("vllm", "llama-server", "deepseek")
"""Servers that continue a final assistant message, each in its own way."""
THINKING_MODES = ("expanded", "collapsed", "hidden")
DEFAULT_CACHE_GB = 2.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYS = re.compile(r"^[a-z0-9_+\-,. ]+$", re.IGNORECASE)


@dataclass(frozen=True)
class UISettings:
    """`[ui]`: what the app remembers between runs."""

    theme: str | None = None
    """The theme's name (`None`: r1chat's dark theme)."""
    thinking: str = "collapsed"
    """How reasoning is shown: expanded, collapsed or hidden."""
    timestamps: bool = False
    """Every message shows when it was written (a focused one always does)."""


@dataclass(frozen=True)
class RemoteSettings:
    """One `[remotes.NAME]` table: an OpenAI-compatible server."""

    url: str
    model: str | None = None
    api_key_env: str | None = None
    """The environment variable that holds the key (the key itself is never in the file)."""
    read_timeout: float = READ_TIMEOUT
    prefill: str | None = None
    n_ctx: int | None = None
    reply_timeout: float = REPLY_TIMEOUT


@dataclass(frozen=True)
class CacheSettings:
    """`[cache]`: saved llama.cpp contexts."""

    resume: bool = True
    size_gb: float = DEFAULT_CACHE_GB


@dataclass(frozen=True)
class StatsSettings:
    """`[stats]`: which hosted prices usage is compared with."""

    compare: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PresetSettings:
    """One `[presets.NAME]` table: a persona, a system prompt with its sampling, that a
    chat can take (F2, the palette, `--preset`); what it leaves out stays as it was."""

    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    thinking: bool | None = None
    think_budget: int | None = None

    def summary(self) -> str:
        """`temperature 0.2 · top_p 0.9 · "You review Python code…"`."""
        parts = [
            f"{name} {value}"
            for name, value in (
                ("temperature", self.temperature),
                ("top_p", self.top_p),
                ("max_tokens", self.max_tokens),
                ("think_budget", self.think_budget),
            )
            if value is not None
        ]
        if self.thinking is not None:
            parts.append("thinking on" if self.thinking else "thinking off")
        if self.system:
            first = " ".join(self.system.split())
            parts.append(f'"{first[:60]}{"…" if len(first) > 60 else ""}"')
        return " · ".join(parts) or "no changes"


@dataclass(frozen=True)
class Sections:
    """Every table besides the model and generation settings, checked."""

    ui: UISettings = field(default_factory=UISettings)
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id → keys, as written (the app checks the ids against its bindings)."""
    remotes: dict[str, RemoteSettings] = field(default_factory=dict)
    cache: CacheSettings = field(default_factory=CacheSettings)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    """`[prices.KEY]` changes and additions to the shipped price table, checked."""
    stats: StatsSettings = field(default_factory=StatsSettings)
    presets: dict[str, PresetSettings] = field(default_factory=dict)
    """`[presets.NAME]`: personas, in the file's order."""


TABLES = ("ui", "keymap", "remotes", "cache", "prices", "stats", "presets")


def parse_sections(data: dict[str, Any], where: str) -> Sections:
    """The tables of a parsed `config.toml` (`where`: its path, for messages)."""

    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"Invalid {key} in {where}: {why}.")

    return Sections(
        ui=_ui(_table(data, "ui", fail), fail),
        keymap=_keymap(_table(data, "keymap", fail), fail),
        remotes=_remotes(_table(data, "remotes", fail), fail),
        cache=_cache(_table(data, "cache", fail), fail),
        prices=_prices(_table(data, "prices", fail), fail),
        stats=_stats(_table(data, "stats", fail), fail),
        presets=_presets(_table(data, "presets", fail), fail),
    )


Fail = Any


def _table(data: dict[str, Any], name: str, fail: Fail) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise fail(f"[{name}]", "it must be a table")
    return value


def _unknown(table: dict[str, Any], section: str, allowed: tuple[str, ...], fail: Fail) -> None:
    for key in table:
        if key not in allowed:
            raise fail(
                f"{section}.{key}", f"there is no such setting (known: {', '.join(allowed)})"
            )


def _ui(table: dict[str, Any], fail: Fail) -> UISettings:
    _unknown(table, "ui", ("theme", "thinking", "timestamps"), fail)
    theme = table.get("theme")
    if theme is not None and (not isinstance(theme, str) or not theme.strip()):
        raise fail("ui.theme", "a theme's name")
    thinking = table.get("thinking", "collapsed")
    if thinking not in THINKING_MODES:
        raise fail("ui.thinking", f"one of {', '.join(THINKING_MODES)}")
    timestamps = table.get("timestamps", False)
    if not isinstance(timestamps, bool):
        raise fail("ui.timestamps", "true or false")
    return UISettings(theme, thinking, timestamps)


def _keymap(table: dict[str, Any], fail: Fail) -> dict[str, str]:
    keymap: dict[str, str] = {}
    for binding, keys in table.items():
        if not isinstance(keys, str) or not keys.strip() or not _KEYS.match(keys):
            raise fail(f"keymap.{binding}", 'keys such as "ctrl+g" or "f5,ctrl+r"')
        keymap[str(binding)] = keys
    return keymap


_PRESET_NAME = re.compile(r"[\w][\w .-]{0,39}")


def _presets(tables: dict[str, Any], fail: Fail) -> dict[str, PresetSettings]:
    allowed = ("system", "temperature", "top_p", "max_tokens", "thinking", "think_budget")
    presets: dict[str, PresetSettings] = {}
    for name, table in tables.items():
        where = f"[presets.{name}]"
        if not isinstance(table, dict):
            raise fail(where, 'it must be a table with system = "..." and sampling')
        if not _PRESET_NAME.fullmatch(str(name)):
            raise fail(where, "a preset's name is letters, digits, spaces, - _ or . (at most 40)")
        _unknown(table, f"presets.{name}", allowed, fail)
        system = table.get("system")
        if system is not None and not isinstance(system, str):
            raise fail(f"{where} system", "the system prompt, as text")
        temperature, top_p = table.get("temperature"), table.get("top_p")
        if temperature is not None and (not _number(temperature) or not 0 <= temperature <= 5):
            raise fail(f"{where} temperature", "a number from 0 to 5")
        if top_p is not None and (not _number(top_p) or not 0 < top_p <= 1):
            raise fail(f"{where} top_p", "a number above 0 and at most 1")
        whole: dict[str, int | None] = {}
        for key in ("max_tokens", "think_budget"):
            value = table.get(key)
            if value is not None and (not whole_number(value) or not 1 <= value <= 10_000_000):
                raise fail(f"{where} {key}", "a whole number of tokens from 1 to 10,000,000")
            whole[key] = value
        thinking = table.get("thinking")
        if thinking is not None and not isinstance(thinking, bool):
            raise fail(f"{where} thinking", "true or false")
        presets[str(name)] = PresetSettings(
            system,
            None if temperature is None else float(temperature),
            None if top_p is None else float(top_p),
            whole["max_tokens"],
            thinking,
            whole["think_budget"],
        )
    return presets


def _remotes(tables: dict[str, Any], fail: Fail) -> dict[str, RemoteSettings]:
    allowed = ("url", "model", "api_key_env", "read_timeout", "prefill", "n_ctx", "reply_timeout")
    remotes: dict[str, RemoteSettings] = {}
    for name, table in tables.items():
        where = f"[remotes.{name}]"
        if not isinstance(table, dict):
            raise fail(where, "it must be a table with url = ...")
        if "api_key" in table:
            raise fail(
                f"{where} api_key",
                "put the key in an environment variable and name it in api_key_env",
            )
        _unknown(table, f"remotes.{name}", allowed, fail)
        url = table.get("url")
        if not isinstance(url, str) or not url.strip():
            raise fail(f"{where} url", "the server's address, for example http://127.0.0.1:8080")
        model, key_env = table.get("model"), table.get("api_key_env")
        if model is not None and not isinstance(model, str):
            raise fail(f"{where} model", "the model's name on the server")
        if key_env is not None and (not isinstance(key_env, str) or not _ENV_NAME.match(key_env)):
            raise fail(f"{where} api_key_env", "the name of an environment variable")
        timeout = table.get("read_timeout", READ_TIMEOUT)
        if not _number(timeout) or not 0 < timeout <= 86_400:
            raise fail(f"{where} read_timeout", "seconds, above 0 and at most 86400")
        prefill = table.get("prefill")
        if prefill is not None and prefill not in PREFILL_KINDS:
            raise fail(f"{where} prefill", f"one of {', '.join(PREFILL_KINDS)}")
        n_ctx = table.get("n_ctx")
        if n_ctx is not None and (not whole_number(n_ctx) or not 64 <= n_ctx <= 10_000_000):
            raise fail(f"{where} n_ctx", "a whole number of tokens from 64 to 10,000,000")
        whole = table.get("reply_timeout", REPLY_TIMEOUT)
        if not _number(whole) or not 0 < whole <= 604_800:
            raise fail(f"{where} reply_timeout", "seconds, above 0 and at most 604800")
        remotes[str(name)] = RemoteSettings(
            url, model, key_env, float(timeout), prefill, n_ctx, float(whole)
        )
    return remotes


def _cache(table: dict[str, Any], fail: Fail) -> CacheSettings:
    _unknown(table, "cache", ("resume", "size_gb"), fail)
    resume = table.get("resume", True)
    if not isinstance(resume, bool):
        raise fail("cache.resume", "true or false")
    size = table.get("size_gb", DEFAULT_CACHE_GB)
    if not _number(size) or not 0 <= size <= 100_000:
        raise fail("cache.size_gb", "gigabytes, from 0 to 100000")
    return CacheSettings(resume, float(size))


def _prices(tables: dict[str, Any], fail: Fail) -> dict[str, dict[str, Any]]:
    allowed = ("name", "input", "output", "date", "source")
    prices: dict[str, dict[str, Any]] = {}
    for key, table in tables.items():
        where = f"[prices.{key}]"
        if not isinstance(table, dict):
            raise fail(where, "a table with input = … and output = …")
        _unknown(table, f"prices.{key}", allowed, fail)
        for name in ("input", "output"):
            if name in table and (not _number(table[name]) or not 0 <= table[name] <= 1e6):
                raise fail(f"{where} {name}", "dollars per million tokens, for example 2.19")
        for name in ("name", "source"):
            if name in table and not isinstance(table[name], str):
                raise fail(f"{where} {name}", "text")
        date = table.get("date")
        if date is not None and not isinstance(date, str | datetime.date):
            raise fail(f"{where} date", 'the date the price was published, "2025-01-20"')
        prices[str(key)] = dict(table)
    return prices


def _stats(table: dict[str, Any], fail: Fail) -> StatsSettings:
    _unknown(table, "stats", ("compare",), fail)
    compare = table.get("compare")
    if compare is None:
        return StatsSettings()
    if not isinstance(compare, list) or not all(isinstance(key, str) for key in compare):
        raise fail("stats.compare", "a list of price keys")
    return StatsSettings(tuple(compare))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def whole_number(value: object) -> bool:
    """Whether `value` is an integer (TOML's `true` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)
