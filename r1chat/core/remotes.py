"""Provides the remote endpoints: `[remotes.NAME]` in config.toml, `--remote URL`, and
loading the engine a chat records, local or remote.

    [remotes.deepseek]
    url = "https://api.deepseek.com"
    model = "deepseek-reasoner"
    api_key_env = "DEEPSEEK_API_KEY"   # the variable's name; the key stays in the environment
    read_timeout = 600                 # seconds between chunks (default 300)
    prefill = "deepseek"               # vllm, llama-server or deepseek: continues a reply
    n_ctx = 65536                      # when the server does not say

A chat records a named endpoint as `remote:NAME` and any other as `URL#MODEL`, and
opening it goes back to the same server.
"""

from __future__ import annotations

import re
from typing import Any

from r1chat.config import Settings
from r1chat.engine.base import Engine
from r1chat.engine.kv_cache import StateCache
from r1chat.engine.remote import REMOTE_PREFIX, Endpoint, is_remote
from r1chat.errors import ConfigError, R1ChatError
from r1chat.paths import Paths
from r1chat.text import terminal_safe

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def configured_remotes(settings: Settings) -> dict[str, Endpoint]:
    """The `[remotes.NAME]` tables of config.toml (checked when it was read) as endpoints."""
    remotes: dict[str, Endpoint] = {}
    for name, table in settings.sections.remotes.items():
        try:
            remotes[name] = Endpoint.parse(
                table.url,
                table.model,
                api_key_env=table.api_key_env,
                name=name,
                read_timeout=table.read_timeout,
                prefill=table.prefill,
                n_ctx=table.n_ctx,
                reply_timeout=table.reply_timeout,
            )
        except R1ChatError as error:
            raise ConfigError(
                f"Invalid [remotes.{terminal_safe(name)}] in config.toml: {str(error).rstrip('.')}."
            ) from error
    return remotes


def remote_choice(
    settings: Settings,
    model: str | None = None,
    url: str | None = None,
    remote_model: str | None = None,
) -> str | None:
    """The remote the command line (or config's `model`) asks for, as a chat records it;
    `None` for a local model."""
    if remote_model and not url:
        raise R1ChatError("--remote-model names a model on a server: give --remote URL too.")
    if url:
        known = next(
            (e for e in configured_remotes(settings).values() if e.url == Endpoint.parse(url).url),
            None,
        )
        if known is not None and (remote_model is None or remote_model == known.model):
            return known.record
        return Endpoint.parse(url, remote_model).record
    wanted = model or settings.model
    if not wanted:
        return None
    if is_remote(wanted):
        endpoint_for(wanted, settings)  # checks it
        return wanted
    if wanted in configured_remotes(settings):
        return REMOTE_PREFIX + wanted
    return None


def endpoint_for(record: str, settings: Settings) -> Endpoint:
    """The endpoint a chat recorded (`remote:NAME` or `URL#MODEL`)."""
    remotes = configured_remotes(settings)
    if record.startswith(REMOTE_PREFIX):
        name = record[len(REMOTE_PREFIX) :]
        if name not in remotes:
            raise R1ChatError(
                f"This chat runs on the remote {terminal_safe(name)!r}, which config.toml no "
                "longer has; add [remotes." + terminal_safe(name) + "] again or pick a model."
            )
        return remotes[name]
    url, _, model = record.partition("#")
    endpoint = Endpoint.parse(url, model or None)
    # A configured endpoint at the same URL lends its key variable and options.
    for known in remotes.values():
        if known.url == endpoint.url:
            return Endpoint(
                endpoint.url,
                endpoint.model or known.model,
                known.api_key_env,
                None,
                known.read_timeout,
                known.prefill,
                known.n_ctx,
                known.reply_timeout,
            )
    return endpoint


def load_engine(
    model: str, settings: Settings, paths: Paths, n_ctx: int | None, **local: Any
) -> Engine:
    """The engine for a recorded model: a remote endpoint, or a GGUF file through llama.cpp."""
    if is_remote(model):
        from r1chat.engine.remote import RemoteEngine

        return RemoteEngine(endpoint_for(model, settings), n_ctx=n_ctx)
    from r1chat.engine.llama import LlamaEngine
    from r1chat.models.build_check import BuildChecks
    from r1chat.models.discovery import named_model

    local.setdefault("state_cache", context_cache(settings, paths))
    local.setdefault("build_checks", BuildChecks(paths.build_checks_file))
    path, name = named_model(model, paths, settings)
    local.setdefault("name", name)
    return LlamaEngine(
        path,
        n_ctx=n_ctx,
        threads=settings.threads,
        gpu_layers=settings.gpu_layers,
        log_path=paths.llama_log_file,
        trust_template=settings.trust_template,
        prompt_lookup=settings.prompt_lookup,
        **local,
    )


def context_cache(settings: Settings, paths: Paths) -> StateCache | None:
    """Where conversations' llama.cpp contexts are kept between runs (`[cache]` in config:
    `size_gb`, default 2; `resume = false` turns it off)."""
    table = settings.sections.cache
    if not table.resume:
        return None
    return StateCache(paths.cache_dir / "contexts", int(table.size_gb * 1024**3))
