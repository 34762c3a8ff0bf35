"""Provides this CPU's features and the llama.cpp build flags that run on it.

llama-cpp-python compiles llama.cpp with `-march=native` unless told otherwise. On
current Intel Xeons (Sapphire Rapids and later) that turns on ggml's AMX matrix kernels,
which die with SIGILL on their first tile instruction wherever the kernel has not given
the thread permission to use AMX tile data (every prompt batch of about 32 tokens or
more). On such a CPU r1chat builds llama.cpp without native tuning and names the vector
extensions it has instead, AMX left out; everywhere else the build stays native.

Run as `python3 -m r1chat.models.cpu` it prints the `CMAKE_ARGS` for this CPU (what is
already in `CMAKE_ARGS` first, so a CUDA or Metal flag is kept). It imports nothing but
the standard library, so the README's install command can call it before anything is
installed.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

AMX_FLAGS = ("amx_tile", "amx_int8", "amx_bf16", "amx_fp16")
AVX512_BASE = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
"""What ggml's `GGML_AVX512` compiles for: all five must be there."""
GGML_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GGML_AVX", ("avx",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    ("GGML_AVX512", AVX512_BASE),
    ("GGML_AVX512_VBMI", (*AVX512_BASE, "avx512_vbmi")),
    ("GGML_AVX512_VNNI", (*AVX512_BASE, "avx512_vnni")),
    ("GGML_AVX512_BF16", (*AVX512_BASE, "avx512_bf16")),
)
"""Each ggml build option for x86 and the `/proc/cpuinfo` flags it needs."""


@dataclass(frozen=True, slots=True)
class CPU:
    """A processor as the operating system describes it."""

    model: str
    machine: str
    """`x86_64`, `arm64`, `aarch64`, …"""
    flags: frozenset[str]
    """Feature flags as `/proc/cpuinfo` spells them (empty where the platform has none)."""

    @property
    def amx(self) -> bool:
        """Whether the CPU reports AMX matrix units (where native llama.cpp builds crash)."""
        return any(flag in self.flags for flag in AMX_FLAGS)

    @property
    def fingerprint(self) -> str:
        """A short digest that changes when the CPU (model or features) changes."""
        text = "\n".join([self.model, self.machine, *sorted(self.flags)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def notable_flags(self) -> list[str]:
        """The features that matter to llama.cpp, in the order ggml names them."""
        wanted = ["sse3", "ssse3", "avx", "avx2", "fma", "f16c", "bmi2", "avx_vnni"]
        wanted += [*AVX512_BASE, "avx512_vbmi", "avx512_vnni", "avx512_bf16", "avx512_fp16"]
        wanted += [*AMX_FLAGS, "neon", "asimd", "sve", "i8mm", "dotprod", "asimddp"]
        return [flag for flag in wanted if flag in self.flags]


def read_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CPU:
    """This machine's CPU: `/proc/cpuinfo` on Linux, `sysctl` on macOS."""
    machine = platform.machine() or "unknown"
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    model = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    if not text and sys.platform == "darwin":
        model = _sysctl("machdep.cpu.brand_string")
        flags = {flag.lower() for flag in _sysctl("machdep.cpu.features").split()}
    return CPU(model or platform.processor() or machine, machine, frozenset(flags))


def _sysctl(name: str) -> str:
    try:
        return subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def build_flags(cpu: CPU) -> list[str]:
    """The CMake options llama.cpp should be built with on `cpu` (none: the native build)."""
    if not cpu.amx:
        return []
    flags = ["-DGGML_NATIVE=OFF"]
    for option, needs in GGML_OPTIONS:
        if all(flag in cpu.flags for flag in needs):
            flags.append(f"-D{option}=ON")
    return flags


def cmake_args(cpu: CPU, existing: str = "") -> str:
    """`CMAKE_ARGS` for building llama-cpp-python on `cpu`, keeping the `existing` ones
    (a GPU backend, say) ahead of r1chat's."""
    given = shlex.split(existing)
    mine = [flag for flag in build_flags(cpu) if flag.split("=")[0] not in _names(given)]
    return " ".join([*given, *mine])


def _names(flags: list[str]) -> set[str]:
    return {flag.split("=")[0] for flag in flags}


def rebuild_command(cpu: CPU, version: str | None, extra: str = "", python: str = "") -> str:
    """The one command that rebuilds llama-cpp-python for `cpu` (not from pip's cache,
    which ignores `CMAKE_ARGS`), keeping `extra` CMake flags such as `-DGGML_CUDA=on`."""
    args = cmake_args(cpu, extra)
    package = f"llama-cpp-python=={version}" if version else "llama-cpp-python"
    prefix = f"CMAKE_ARGS={shlex.quote(args)} " if args else ""
    python = python or sys.executable or "python3"
    return (
        f"{prefix}{shlex.quote(python)} -m pip install --no-cache-dir --force-reinstall "
        f"--no-deps {shlex.quote(package)}"
    )


def main() -> None:
    """Print the `CMAKE_ARGS` for this CPU (for the README's install command)."""
    print(cmake_args(read_cpu(), os.environ.get("CMAKE_ARGS", "")))


if __name__ == "__main__":
    main()
