"""Provides what llama-cpp-python was built for: CPU only, or which GPU backend."""

from __future__ import annotations

import sys

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
