"""Provides what llama-cpp-python was built for: CPU only, or which GPU backend."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

GPU_BACKENDS = ("CUDA", "Metal", "ROCm", "HIP", "Vulkan", "SYCL", "MUSA", "CANN", "OpenCL")


def llama_backend() -> str:
    """`CPU` when llama.cpp cannot offload layers, otherwise the name of its GPU backend."""
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        return "CPU"
    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    for name in GPU_BACKENDS:
        if name in info:
            return name
    return "Metal" if sys.platform == "darwin" else "GPU"


@dataclass(frozen=True)
class ThreadChoice:
    """How many threads llama.cpp gets, and why (for `doctor`)."""

    threads: int
    why: str


def default_threads(
    cpus: set[int] | None = None, sysfs: Path = Path("/sys/devices/system/cpu")
) -> ThreadChoice:
    """One thread per physical core this process may run on.

    llama-cpp-python's own default, half of `os.cpu_count()`, assumes two hardware
    threads per core: on a machine without them it leaves half the cores idle. Here
    the process's affinity mask says which CPUs it may use, and (on Linux) the CPU
    topology says which of them share a core.
    """
    if cpus is None:
        try:
            cpus = set(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # macOS, Windows: no affinity mask
            cpus = set(range(os.cpu_count() or 1))
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topology = sysfs / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            cores = set()
            break
        cores.add((package, core))
    available = max(1, len(cpus))
    if cores and len(cores) < available:
        return ThreadChoice(
            len(cores),
            f"{len(cores)} physical cores among the {available} CPUs this process may use",
        )
    if cores:
        return ThreadChoice(available, f"{available} CPUs this process may use, one per core")
    return ThreadChoice(available, f"{available} CPUs this process may use")
