"""Provides model work the faces ask for: what a server serves, a template check, a tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1chat.config import Settings
from r1chat.engine.remote import Endpoint, list_models
from r1chat.models.gguf_header import read_header
from r1chat.paths import Paths


def served_models(url: str, settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    """The models a server (a URL, or a configured `[remotes.NAME]`) serves, and its URL."""
    from r1chat.core.remotes import configured_remotes

    remotes = configured_remotes(settings)
    endpoint = remotes[url] if url in remotes else Endpoint.parse(url)
    if url not in remotes:  # a configured endpoint at this URL lends its key variable
        endpoint = next((e for e in remotes.values() if e.url == endpoint.url), endpoint)
    return endpoint.url, list_models(endpoint)


def check_template(path: Path, trust: bool) -> None:
    """Refuse now what a chat would refuse later: a broken file, or a chat template that
    is hostile, broken or never finishes rendering (raises `R1ChatError`)."""
    from r1chat.engine.template import ChatTemplate

    header = read_header(path)
    if header.chat_template:
        template = ChatTemplate(header.chat_template, trust=trust)
        template.render([{"role": "user", "content": "Hello"}])


def tokenizer(path: Path, paths: Paths, settings: Settings, name: str) -> Any:
    """The model's tokenizer alone (no weights loaded): an engine that only tokenizes."""
    from r1chat.engine.llama import LlamaEngine

    return LlamaEngine(
        path,
        vocab_only=True,
        log_path=paths.llama_log_file,
        trust_template=settings.trust_template,
        name=name,
    )


def check_build_again(model: Path, paths: Paths, settings: Settings) -> None:
    """Forget the build check's verdicts and try this llama.cpp build on `model` now."""
    import llama_cpp

    from r1chat.models.build_check import BuildChecks, check_build

    checks = BuildChecks(paths.build_checks_file)
    checks.forget()
    check_build(llama_cpp, model, checks, threads=settings.threads)
