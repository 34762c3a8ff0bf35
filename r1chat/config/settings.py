"""Provides `Settings`: `config.toml` read and checked once, then `R1CHAT_MODEL`, then flags."""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from typing import Any

from r1chat.config.sections import TABLES, Sections, parse_sections, whole_number
from r1chat.domain import GenerationParams
from r1chat.errors import ConfigError
from r1chat.files import private_dir, write_private
from r1chat.paths import Paths


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run; `None` means "let the model decide"."""

    model: str | None = None
    """Path of the GGUF model to use (empty: the first model found on the machine)."""
    n_ctx: int | None = None
    """Context window in tokens; default: min(trained context, what fits in memory, 8192)."""
    generation: GenerationParams = field(default_factory=GenerationParams)
    """Sampling for every reply (`[generation]` in config: max_tokens, temperature, top_p,
    seed, think_budget, thinking); a chat's own record and flags come first."""
    threads: int | None = None
    """CPU threads for llama.cpp; `None` lets llama.cpp choose."""
    gpu_layers: int | None = None
    """Model layers to put on the GPU; `None`: as many as fit in its free memory."""
    system_prompt: str = ""
    """Instructions for every chat (merged into the first user turn for R1 models)."""
    show_thinking: bool | None = None
    """Whether `ask` prints the reasoning; `None`: only when stdout is a terminal."""
    model_dirs: tuple[str, ...] = ()
    """Extra folders to look for GGUF models in (`r1chat models`)."""
    trust_template: bool = False
    """Use chat templates that reach for Python internals (still sandboxed)."""
    prompt_lookup: bool = True
    """Draft tokens from the conversation and check them in one step (local models),
    only where that is measured to pay. `false` decodes one token per step."""
    sections: Sections = field(default_factory=Sections, compare=False, repr=False)
    """The other tables (`[ui]`, `[keymap]`, `[remotes.NAME]`, `[cache]`, `[prices.KEY]`,
    `[stats]`), each typed and checked when the file was read."""

    def preset_values(self, name: str | None) -> dict[str, Any]:
        """What `[presets.NAME]` sets, as settings keys (`system_prompt`, sampling);
        empty without a name. An unknown name is one sentence listing the known ones."""
        if not name:
            return {}
        presets = self.sections.presets
        preset = presets.get(name)
        if preset is None:
            known = ", ".join(presets) if presets else "none yet"
            raise ConfigError(
                f"No preset named {name!r} in config.toml (known: {known}); add a "
                f'[presets.{name}] table with system = "..." and any sampling.'
            )
        values = {
            "system_prompt": preset.system,
            "temperature": preset.temperature,
            "top_p": preset.top_p,
            "max_tokens": preset.max_tokens,
            "thinking": preset.thinking,
            "think_budget": preset.think_budget,
        }
        return {key: value for key, value in values.items() if value is not None}

    def with_overrides(self, **values: Any) -> Settings:
        """Return a copy with every non-`None` value applied, after validating it."""
        changed = {key: value for key, value in values.items() if value is not None}
        sampling = {key: changed.pop(key) for key in list(changed) if key in SAMPLING_KEYS}
        generation = replace(self.generation, **sampling)
        return validate(replace(self, **changed, generation=generation), "the command line")


SAMPLING_KEYS = frozenset(f.name for f in fields(GenerationParams)) - {"memory"}
"""The `[generation]` keys that are sampling (`GenerationParams`); `memory` is per chat."""
_KNOWN = {f.name for f in fields(Settings)} - {"sections", "generation"}
_GENERATION_KEYS = SAMPLING_KEYS | {"system_prompt", "show_thinking"}


def validate(settings: Settings, source: str = "settings") -> Settings:
    """Check ranges and types; raise `ConfigError` with one sentence naming the setting."""

    def fail(name: str, why: str) -> ConfigError:
        return ConfigError(f"Invalid {name} in {source}: {why}.")

    g = settings.generation
    t = g.temperature
    if t is not None and (not _is_number(t) or not 0 <= t <= 5 or math.isnan(t)):
        raise fail("temperature", f"{t!r} is not a number from 0 to 5")
    p = g.top_p
    if p is not None and (not _is_number(p) or not 0 < p <= 1):
        raise fail("top_p", f"{p!r} is not a number above 0 and at most 1")
    n = settings.n_ctx
    if n is not None and (not whole_number(n) or n < 64):
        raise fail("n_ctx", f"{n!r} is not a whole number of at least 64")
    m = g.max_tokens
    if m is not None and (not whole_number(m) or m < 1):
        raise fail("max_tokens", f"{m!r} is not a whole number of at least 1")
    b = g.think_budget
    if b is not None and (not whole_number(b) or b < 1):
        raise fail("think_budget", f"{b!r} is not a whole number of at least 1")
    if not isinstance(g.thinking, bool):
        raise fail("thinking", f"{g.thinking!r} is not true or false")
    problem = budget_problem(b, m)
    if problem:
        raise ConfigError(f"{problem} (in {source}).")
    if not whole_number(g.seed) or g.seed < -1:
        raise fail("seed", f"{g.seed!r} is not -1 or a whole number of at least 0")
    th = settings.threads
    most = max(1, os.cpu_count() or 1) * 2
    if th is not None and (not whole_number(th) or not 1 <= th <= most):
        raise fail("threads", f"{th!r} is not a whole number from 1 to {most} (twice the CPUs)")
    layers = settings.gpu_layers
    if layers is not None and (not whole_number(layers) or not 0 <= layers <= 100_000):
        raise fail("gpu_layers", f"{layers!r} is not a whole number of layers from 0 up")
    if not isinstance(settings.prompt_lookup, bool):
        raise fail("prompt_lookup", f"{settings.prompt_lookup!r} is not true or false")
    if settings.model is not None and not isinstance(settings.model, str):
        raise fail("model", f"{settings.model!r} is not a path")
    if not isinstance(settings.system_prompt, str):
        raise fail("system_prompt", "it is not a string")
    if not all(isinstance(folder, str) for folder in settings.model_dirs):
        raise fail("model_dirs", "it must be a list of folder paths")
    return settings


def budget_problem(think_budget: int | None, max_tokens: int | None) -> str | None:
    """Why a reasoning budget cannot work with `max_tokens`, or `None` if it can."""
    if think_budget is not None and max_tokens is not None and think_budget > max_tokens:
        return (
            f"The reasoning budget ({think_budget:,} tokens) is larger than max_tokens "
            f"({max_tokens:,}), which counts the whole reply: lower the budget or raise "
            "max_tokens"
        )
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def load_settings(paths: Paths, environ: dict[str, str] | None = None) -> Settings:
    """Read `config.toml` (if any) and apply `R1CHAT_MODEL`.

    Layout::

        model = "~/models/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf"
        n_ctx = 4096
        threads = 4
        gpu_layers = 20           # default: as many layers as fit in the GPU's free memory
        prompt_lookup = true      # draft tokens from the conversation where it pays

        [generation]
        max_tokens = 2048
        temperature = 0.6
        top_p = 0.95
        seed = -1
        system_prompt = ""
        show_thinking = true
        think_budget = 1024       # R1 models answer after this many reasoning tokens
        thinking = true           # false: R1 models answer at once
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sampling: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    file = paths.config_file
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{file} is not valid TOML ({error}); fix or remove it.") from error
        except OSError as error:
            raise ConfigError(f"Cannot read {file} ({error.strerror}).") from error
        for key, value in data.items():
            if key == "generation" and isinstance(value, dict):
                for name, item in value.items():
                    if name not in _GENERATION_KEYS:
                        raise ConfigError(f"Unknown setting generation.{name} in {file}.")
                    (sampling if name in SAMPLING_KEYS else values)[name] = item
            elif key == "model_dirs":
                if not isinstance(value, list):
                    raise ConfigError(f"Invalid model_dirs in {file}: it must be a list of paths.")
                values[key] = tuple(value)
            elif key in _KNOWN and key not in _GENERATION_KEYS:
                values[key] = value
            elif key in TABLES:
                tables[key] = value
            else:
                known = ", ".join(sorted(_KNOWN - _GENERATION_KEYS))
                raise ConfigError(
                    f"Unknown setting {key} in {file}; known: {known}, [generation] and "
                    f"[{'], ['.join(TABLES)}]."
                )
    model_env = env.get("R1CHAT_MODEL")
    if model_env:
        values["model"] = model_env
    sections = parse_sections(tables, str(file))
    settings = Settings(**values, generation=GenerationParams(**sampling), sections=sections)
    return validate(settings, str(file) if file.exists() else "settings")


def save_setting(paths: Paths, table: str, key: str, value: str | bool | int | float) -> None:
    """Set `[table] key = value` (top level when `table` is empty) in `config.toml`,
    keeping the rest of the file as it was."""
    import tomlkit

    file = paths.config_file
    try:
        document = tomlkit.parse(file.read_text(encoding="utf-8")) if file.exists() else None
    except (OSError, tomlkit.exceptions.ParseError) as error:
        raise ConfigError(f"Cannot update {file} ({error}); fix or remove it.") from error
    if document is None:
        document = tomlkit.document()
    if not table:
        document[key] = value
    else:
        section = document.get(table)
        if section is None:
            section = tomlkit.table()
            document[table] = section
        section[key] = value
    try:
        private_dir(file.parent)
        write_private(file, tomlkit.dumps(document))
    except OSError as error:
        raise ConfigError(f"Cannot write {file} ({error.strerror}).") from error
