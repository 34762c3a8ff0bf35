"""Provides the build check: whether this llama.cpp build runs on this CPU, tried in a child.

A llama.cpp compiled for features the CPU or the operating system does not fully give
(AMX tiles on current Xeons, an AVX-512 build moved to an older machine) dies with SIGILL
in the middle of a prompt, taking the whole process with it: no Python code can catch
that. So the first time a build is used on a CPU, a child process loads the model and
reads a prompt batch of 96 tokens and generates a few, exactly as a reply would. If the
child dies, a second child tries safe mode (no extra buffer types: no weight repacking,
no AMX kernels). The verdict is remembered per build and CPU in a small JSON file, so
the check costs one model load once; a new build or another CPU checks again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from r1chat.files import write_private
from r1chat.models.cpu import CPU, read_cpu, rebuild_command

PROBE_TOKENS = 96
"""Prompt tokens the child reads in one batch: above the ~32 where AMX kernels start."""
PROBE_TIMEOUT = 240.0
"""Seconds a child may take to load the model and read its prompt before it counts as hung."""
SAFE_SLOWDOWN = 3.4
"""How much slower safe mode read prompts than a build for the CPU on a Sapphire
Rapids-class VM (1.85 s against 0.55 s for 91 tokens and 64 more on SmolLM2)."""


@dataclass(frozen=True, slots=True)
class ProbeRun:
    """What one child process did: its exit status, what it printed, whether it hung."""

    returncode: int
    stdout: str
    timed_out: bool = False

    @property
    def failure(self) -> str | None:
        """How the child failed, in a few words (`None`: it passed)."""
        if self.timed_out:
            return "hung (no answer within the time allowed)"
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"crashed with {name}" + (" (illegal instruction)" if name == "SIGILL" else "")
        if self.returncode != 0:
            return f"failed (exit status {self.returncode})"
        try:
            json.loads(self.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return "ended without a result"
        return None

    @property
    def prompt_tokens_per_second(self) -> float | None:
        """How fast the child read its prompt batch, when it passed."""
        if self.failure is not None:
            return None
        data = json.loads(self.stdout.strip().splitlines()[-1])
        value = data.get("prompt_tokens_per_second")
        return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True, slots=True)
class BuildCheck:
    """The verdict on one llama.cpp build on one CPU."""

    build: str
    """Which build (llama-cpp-python's version and its library file's size and date)."""
    cpu: str
    """`CPU.fingerprint` of the processor it was tried on."""
    passed: bool
    """The build ran a prompt batch at full speed (extra buffer types on)."""
    safe_mode: bool
    """The build died, and runs with extra buffer types off (slower, but it runs)."""
    failure: str | None = None
    """How the full-speed child failed (`crashed with SIGILL (illegal instruction)`)."""
    safe_failure: str | None = None
    """How the safe-mode child failed too, when it did."""
    prompt_tokens_per_second: float | None = None
    """Prompt reading speed of the mode that runs, as measured by the check."""
    model: str = ""
    """The model file the check ran on."""
    checked_at: float = 0.0

    @property
    def usable(self) -> bool:
        """Whether the build can run at all (at full speed or in safe mode)."""
        return self.passed or self.safe_mode

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildCheck | None:
        """A remembered verdict, or `None` when the record is damaged."""
        try:
            check = cls(**data)
        except TypeError:
            return None
        if not isinstance(check.passed, bool) or not isinstance(check.safe_mode, bool):
            return None
        return check


Runner = Callable[[list[str], float], ProbeRun]


def run_child(argv: list[str], timeout: float) -> ProbeRun:
    """Run one probe child; its output, or how it died."""
    env = dict(os.environ, PYTHONFAULTHANDLER="")  # no Python traceback on a native crash
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ProbeRun(-1, "", timed_out=True)
    return ProbeRun(done.returncode, done.stdout)


def probe_command(model: Path, *, safe: bool, threads: int | None, gpu_layers: int) -> list[str]:
    """The child's command line: this Python, running `r1chat.engine.native_probe`."""
    argv = [sys.executable, "-m", "r1chat.engine.native_probe", str(model)]
    argv += ["--gpu-layers", str(gpu_layers)]
    if threads:
        argv += ["--threads", str(threads)]
    return [*argv, "--safe"] if safe else argv


def build_identity(llama_cpp: Any) -> str:
    """llama-cpp-python's version and its shared library's size and modification time: a
    rebuild (other flags, another backend) changes it even at the same version."""
    version = str(getattr(llama_cpp, "__version__", "?"))
    folder = Path(getattr(llama_cpp, "__file__", ".")).parent
    libraries = sorted(folder.glob("lib/*llama*")) + sorted(folder.glob("lib/*ggml*"))
    parts = [version]
    for library in libraries:
        try:
            stat = library.stat()
        except OSError:
            continue
        parts.append(f"{library.name}:{stat.st_size}:{int(stat.st_mtime)}")
    return "|".join(parts)


class BuildChecks:
    """The verdicts remembered on disk, one per build and CPU."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, build: str, cpu: str) -> BuildCheck | None:
        """The remembered verdict for `build` on `cpu`, if any."""
        record = self._read().get(f"{build}#{cpu}")
        return BuildCheck.from_dict(record) if isinstance(record, dict) else None

    def remember(self, check: BuildCheck) -> None:
        """Keep `check` (verdicts for other builds and CPUs stay, up to 20 of them)."""
        data = self._read()
        data[f"{check.build}#{check.cpu}"] = asdict(check)
        newest = sorted(data.items(), key=lambda item: _time(item[1]))[-20:]
        with contextlib.suppress(OSError):  # not remembered: the check runs again next time
            write_private(self.path, json.dumps(dict(newest), indent=1))

    def forget(self) -> None:
        """Drop every remembered verdict (`doctor --check-build` runs the check afresh)."""
        self.path.unlink(missing_ok=True)


def _time(record: Any) -> float:
    value = record.get("checked_at", 0) if isinstance(record, dict) else 0
    return float(value) if isinstance(value, int | float) else 0.0


def check_build(
    llama_cpp: Any,
    model: Path,
    checks: BuildChecks,
    *,
    threads: int | None = None,
    gpu_layers: int = 0,
    cpu: CPU | None = None,
    runner: Runner = run_child,
    timeout: float = PROBE_TIMEOUT,
) -> BuildCheck:
    """The verdict on this build and CPU: remembered, or found now by one or two children."""
    cpu = cpu or read_cpu()
    build = build_identity(llama_cpp)
    known = checks.get(build, cpu.fingerprint)
    if known is not None:
        return known
    full = runner(probe_command(model, safe=False, threads=threads, gpu_layers=gpu_layers), timeout)
    check = BuildCheck(
        build,
        cpu.fingerprint,
        passed=full.failure is None,
        safe_mode=False,
        failure=full.failure,
        prompt_tokens_per_second=full.prompt_tokens_per_second,
        model=str(model),
        checked_at=time.time(),
    )
    if full.failure is not None:
        safe = runner(
            probe_command(model, safe=True, threads=threads, gpu_layers=gpu_layers), timeout
        )
        check = BuildCheck(
            build,
            cpu.fingerprint,
            passed=False,
            safe_mode=safe.failure is None,
            failure=full.failure,
            safe_failure=safe.failure,
            prompt_tokens_per_second=safe.prompt_tokens_per_second,
            model=str(model),
            checked_at=check.checked_at,
        )
    checks.remember(check)
    return check


def rebuild_hint(llama_cpp: Any, cpu: CPU | None = None) -> str:
    """The exact command that rebuilds llama-cpp-python for this CPU."""
    version = getattr(llama_cpp, "__version__", None)
    return rebuild_command(cpu or read_cpu(), version, os.environ.get("CMAKE_ARGS", ""))


def safe_mode_sentence(check: BuildCheck, rebuild: str) -> str:
    """One sentence for a build that runs only in safe mode: what happened, what it costs,
    what to do."""
    speed = (
        f" (prompts read at {check.prompt_tokens_per_second:,.0f} tokens/s)"
        if check.prompt_tokens_per_second
        else ""
    )
    return (
        f"llama.cpp {check.failure} on this CPU, so r1chat runs it in safe mode without its "
        f"fast matrix kernels{speed}, about {SAFE_SLOWDOWN:g}x slower than a build for this "
        f"CPU; rebuild it with: {rebuild}"
    )


def unusable_sentence(check: BuildCheck, rebuild: str) -> str:
    """One sentence for a build that dies even in safe mode."""
    return (
        f"llama.cpp {check.failure} on this CPU, and {check.safe_failure} in safe mode too; "
        f"rebuild it for this CPU with: {rebuild}"
    )


def compiled_features(system_info: str) -> list[str]:
    """The CPU features and backends a build was compiled with, from llama.cpp's
    `llama_print_system_info()` (`CPU : SSE3 = 1 | AVX = 1 | AMX_INT8 = 1 | …`)."""
    features = []
    for part in system_info.replace("\n", "|").split("|"):
        name, _, value = part.rpartition("=")
        name = name.split(":")[-1].strip()
        if name and value.strip() == "1":
            features.append(name)
    return features


def build_report(paths_file: Path, cpu: CPU | None = None) -> dict[str, Any]:
    """What `doctor` says of the build: the CPU, the build's features, the check's verdict,
    safe mode, and the rebuild command where it helps."""
    cpu = cpu or read_cpu()
    report: dict[str, Any] = {
        "cpu": {"model": cpu.model, "features": cpu.notable_flags(), "amx": cpu.amx},
        "compiled": [],
        "check": None,
        "safe_mode": False,
        "rebuild": None,
    }
    try:
        import llama_cpp
    except ImportError:
        return report
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    report["compiled"] = compiled_features(info)
    check = BuildChecks(paths_file).get(build_identity(llama_cpp), cpu.fingerprint)
    if check is not None:
        report["check"] = asdict(check)
        report["safe_mode"] = check.safe_mode
    amx_built = any(name.startswith("AMX") for name in report["compiled"])
    if (check is not None and not check.passed) or (cpu.amx and amx_built):
        report["rebuild"] = rebuild_hint(llama_cpp, cpu)
    return report
