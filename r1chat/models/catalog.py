"""Provides `ModelInfo`: what `r1chat models` says about a file, read from its header only.

Header facts are cached in the cache folder by path, size and modification time, so a
second listing reads no file at all.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1chat.errors import R1ChatError
from r1chat.models.discovery import ModelEntry
from r1chat.models.family import default_sampling, hostile_parts, is_r1_model
from r1chat.models.fit import ModelShape, default_context, fit, needed_bytes
from r1chat.models.gguf_header import read_header

CACHE_VERSION = 1


@dataclass
class ModelInfo:
    """One model as listed: identity, header facts, whether it fits, defaults chosen."""

    name: str
    path: str
    source: str
    size: int = 0
    architecture: str | None = None
    model_name: str | None = None
    parameters: int = 0
    quantization: str | None = None
    context_length: int | None = None
    reasoning: bool = False
    template_flags: list[str] = field(default_factory=list)
    """Parts of the chat template that reach for Python internals (refused by default)."""
    kv_bytes_per_token: int | None = None
    fits: str | None = None
    needed_bytes: int | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    """Why the file cannot be used (one sentence), if it cannot."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _header_facts(path: Path) -> dict[str, Any]:
    header = read_header(path)
    shape = ModelShape.from_header(header)
    template = header.chat_template
    return {
        "size": header.size,
        "architecture": header.architecture,
        "model_name": header.name,
        "parameters": header.parameters,
        "quantization": header.quantization,
        "context_length": header.context_length,
        "reasoning": is_r1_model(template, header.name) or bool(template and "<think>" in template),
        "r1": is_r1_model(template, header.name),
        "template_flags": hostile_parts(template or ""),
        "kv_bytes_per_token": shape.kv_bytes_per_token() if shape else None,
        "shape": asdict(shape) if shape else None,
    }


class HeaderCache:
    """Header facts by path, valid while the file's size and modification time match."""

    def __init__(self, file: Path | None) -> None:
        self.file = file
        self.entries: dict[str, Any] = {}
        self.changed = False
        if file is not None:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
                if data.get("version") == CACHE_VERSION:
                    self.entries = data.get("entries", {})
            except (OSError, ValueError, AttributeError):
                self.entries = {}

    def facts(self, path: Path) -> dict[str, Any]:
        """Header facts for `path`, from the cache when the file is unchanged."""
        stat = path.stat()
        key = str(path.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns]
        cached = self.entries.get(key)
        if cached and cached.get("stamp") == stamp:
            facts: dict[str, Any] = cached["facts"]
            return facts
        facts = _header_facts(path)
        self.entries[key] = {"stamp": stamp, "facts": facts}
        self.changed = True
        return facts

    def save(self) -> None:
        """Write the cache back (quietly skipped when the folder is not writable)."""
        if self.file is None or not self.changed:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.file.with_name(self.file.name + ".partial")
            payload = {"version": CACHE_VERSION, "entries": self.entries}
            partial.write_text(json.dumps(payload), encoding="utf-8")
            partial.replace(self.file)
        except OSError:
            pass


def describe(entry: ModelEntry, memory: int, cache: HeaderCache | None = None) -> ModelInfo:
    """Everything `r1chat models` shows for one file; a bad file gets an `error`."""
    info = ModelInfo(entry.name, str(entry.path), entry.source)
    try:
        facts = (cache or HeaderCache(None)).facts(entry.path)
    except (R1ChatError, OSError) as error:
        info.error = str(error)
        with contextlib.suppress(OSError):
            info.size = entry.path.stat().st_size
        return info
    for key in (
        "size",
        "architecture",
        "model_name",
        "parameters",
        "quantization",
        "context_length",
        "reasoning",
        "template_flags",
        "kv_bytes_per_token",
    ):
        setattr(info, key, facts[key])
    shape = ModelShape(**facts["shape"]) if facts.get("shape") else None
    n_ctx = default_context(info.context_length, info.size, shape, memory)
    info.needed_bytes = needed_bytes(info.size, shape, n_ctx)
    info.fits = fit(info.needed_bytes, memory) if memory else None
    r1 = bool(facts.get("r1", False))
    temperature, top_p = default_sampling(r1)
    info.defaults = {
        "n_ctx": n_ctx,
        "temperature": temperature,
        "top_p": top_p,
        "prefill_think": r1,
        "system_prompt_in_user_turn": r1,
    }
    return info


def describe_all(
    entries: list[ModelEntry], memory: int, cache_file: Path | None
) -> list[ModelInfo]:
    """`describe` each entry, sharing (and then saving) one header cache."""
    cache = HeaderCache(cache_file)
    infos = [describe(entry, memory, cache) for entry in entries]
    cache.save()
    return infos
