"""Provides what this machine has: memory, GPU, free disk, and how llama.cpp was built."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class GPU:
    """A GPU and its memory, as the platform reports them."""

    name: str
    memory_bytes: int | None
    kind: str
    """`CUDA` (NVIDIA) or `Metal` (Apple: memory shared with the CPU)."""


@dataclass(frozen=True, slots=True)
class Machine:
    """The facts `doctor` reports and the memory-fit arithmetic uses."""

    python: str
    platform: str
    cpus: int
    ram_bytes: int | None
    ram_available_bytes: int | None
    gpus: tuple[GPU, ...]
    llama_cpp_version: str | None
    backend: str | None
    gpu_offload: bool

    @property
    def model_memory_bytes(self) -> int:
        """Memory a model may use: the biggest GPU when llama.cpp can offload, else RAM."""
        if self.gpu_offload and self.gpus:
            gpu = max((g.memory_bytes or 0) for g in self.gpus)
            if gpu:
                return gpu
        return self.ram_available_bytes or self.ram_bytes or 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts."""
        data = asdict(self)
        data["model_memory_bytes"] = self.model_memory_bytes
        return data


def _meminfo() -> tuple[int | None, int | None]:
    try:
        fields = {
            line.split(":")[0]: int(line.split()[1]) * 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.split(":")[0] in ("MemTotal", "MemAvailable")
        }
        return fields.get("MemTotal"), fields.get("MemAvailable")
    except (OSError, ValueError, IndexError):
        pass
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return total, None
    except (ValueError, OSError, AttributeError):
        return None, None


def _nvidia_smi(fields: str) -> list[str]:
    """The lines `nvidia-smi` prints for `--query-gpu=FIELDS` (none: no NVIDIA driver, or
    it did not answer)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return out.strip().splitlines()


def _nvidia_gpus() -> list[GPU]:
    gpus = []
    for line in _nvidia_smi("name,memory.total"):
        name, _, memory = line.rpartition(",")
        try:
            gpus.append(GPU(name.strip(), int(float(memory)) * 1024 * 1024, "CUDA"))
        except ValueError:
            continue
    return gpus


def free_gpu_memory() -> int | None:
    """Free memory on the emptiest NVIDIA GPU, in bytes (`None`: no `nvidia-smi`, or it
    did not answer; Apple GPUs share the machine's memory, which the fit handles)."""
    sizes = []
    for line in _nvidia_smi("memory.free"):
        try:
            sizes.append(int(float(line)) * 1024 * 1024)
        except ValueError:
            continue
    return max(sizes) if sizes else None


def _apple_gpu(ram: int | None) -> list[GPU]:
    if sys.platform != "darwin" or platform.machine() != "arm64":
        return []
    # Apple Silicon shares memory; Metal may use about three quarters of it.
    return [GPU("Apple Silicon GPU", int(ram * 0.75) if ram else None, "Metal")]


def inspect_machine() -> Machine:
    """Look at this machine (fast: no model is loaded)."""
    ram, available = _meminfo()
    gpus = tuple(_nvidia_gpus() or _apple_gpu(ram))
    version = backend = None
    offload = False
    try:
        import llama_cpp

        from r1chat.models.hardware import llama_backend

        version = llama_cpp.__version__
        backend = llama_backend()
        offload = bool(llama_cpp.llama_supports_gpu_offload())
    except ImportError:
        pass
    return Machine(
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.machine()}",
        cpus=os.cpu_count() or 1,
        ram_bytes=ram,
        ram_available_bytes=available,
        gpus=gpus,
        llama_cpp_version=version,
        backend=backend,
        gpu_offload=offload,
    )


def free_disk(path: Path) -> int | None:
    """Free bytes on the disk that holds `path` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def reinstall_hint(machine: Machine) -> str | None:
    """The command that rebuilds llama-cpp-python for this machine's GPU, if it lacks it."""
    if machine.gpu_offload:
        return None
    kinds = {gpu.kind for gpu in machine.gpus}
    if "CUDA" in kinds:
        flag = "-DGGML_CUDA=on"
    elif "Metal" in kinds:
        flag = "-DGGML_METAL=on"
    else:
        return None
    return (
        f'CMAKE_ARGS="{flag}" {sys.executable} -m pip install --force-reinstall '
        "--no-cache-dir llama-cpp-python"
    )
