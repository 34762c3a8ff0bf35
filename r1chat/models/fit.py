"""Provides memory arithmetic: KV cache size from a model's own shape, and whether it fits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from r1chat.models.gguf_header import GGUFHeader

KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
"""Bytes per cached element for llama.cpp's KV cache types (f16 is its default)."""
OVERHEAD_BYTES = 512 * 1024 * 1024
"""Compute buffers, the runtime and headroom: kept free besides weights and cache."""
CONTEXT_CAP = 8192
"""The default context never exceeds this (a bigger window costs memory and speed)."""

Fit = Literal["fits", "tight", "too big"]


@dataclass(frozen=True, slots=True)
class ModelShape:
    """The numbers that decide a transformer's KV cache size."""

    layers: int
    kv_heads: int
    head_dim: int

    @classmethod
    def from_header(cls, header: GGUFHeader) -> ModelShape | None:
        """The shape from GGUF metadata (`None` for models without attention heads)."""
        layers = header.number("block_count")
        heads = header.number("attention.head_count")
        kv_heads = header.number("attention.head_count_kv") or heads
        embedding = header.number("embedding_length")
        key_length = header.number("attention.key_length")
        if not layers or not heads or not kv_heads:
            return None
        head_dim = key_length or (embedding // heads if embedding else 0)
        if not head_dim:
            return None
        return cls(layers, kv_heads, head_dim)

    def kv_bytes_per_token(self, cache_type: str = "f16") -> int:
        """Bytes of K and V cached for one token across all layers."""
        return int(2 * self.layers * self.kv_heads * self.head_dim * KV_BYTES[cache_type])

    def kv_bytes(self, n_ctx: int, cache_type: str = "f16") -> int:
        """Bytes of KV cache for a context of `n_ctx` tokens."""
        return self.kv_bytes_per_token(cache_type) * n_ctx


def needed_bytes(weights: int, shape: ModelShape | None, n_ctx: int) -> int:
    """Memory to run: the weights, the KV cache for `n_ctx`, and fixed overhead."""
    return weights + (shape.kv_bytes(n_ctx) if shape else 0) + OVERHEAD_BYTES


def fit(needed: int, available: int) -> Fit:
    """`fits` with a quarter to spare, `tight` if it only just fits, else `too big`."""
    if needed <= available * 0.75:
        return "fits"
    if needed <= available:
        return "tight"
    return "too big"


def default_context(
    trained: int | None, weights: int, shape: ModelShape | None, available: int
) -> int:
    """min(trained context, what fits in memory, 8192), at least 512."""
    limit = min(trained or CONTEXT_CAP, CONTEXT_CAP)
    if shape is None or available <= 0:
        return limit
    room = available - weights - OVERHEAD_BYTES
    fits = room // shape.kv_bytes_per_token() if room > 0 else 0
    fits = max(512, int(fits) // 256 * 256)
    return max(512, min(limit, fits))


@dataclass(frozen=True, slots=True)
class Offload:
    """How many of a model's layers go to the GPU, and why that many."""

    layers: int
    """Layers offloaded (0: none; equal to `total`: the whole model)."""
    total: int
    why: str

    @property
    def label(self) -> str:
        """`24/28 layers`, as the status bar and `doctor` show it."""
        return f"{self.layers}/{self.total} layers"


def offload_layers(
    weights: int,
    shape: ModelShape | None,
    n_ctx: int,
    free_gpu: int | None,
    setting: int | None = None,
) -> Offload:
    """The layers to put on the GPU: every layer that fits in `free_gpu` bytes with its
    share of the KV cache, after the overhead; `setting` (`gpu_layers` in config) wins.

    Each layer is taken to hold an equal share of the weights (the output and embedding
    tensors are counted as one more layer's worth), which is close for transformers.
    """
    total = shape.layers if shape else 0
    if setting is not None:
        layers = max(0, setting if not total else min(setting, total))
        return Offload(layers, total or layers, "set by `gpu_layers` in config.toml")
    if not total:
        return Offload(0, 0, "the model's layer count is unknown; nothing offloaded")
    if free_gpu is None:
        return Offload(total, total, "the GPU's free memory is unknown: every layer offloaded")
    per_layer = weights / (total + 1) + (shape.kv_bytes(n_ctx) / total if shape else 0)
    room = free_gpu - OVERHEAD_BYTES - weights / (total + 1)
    fitting = max(0, min(total, int(room // per_layer))) if per_layer > 0 else total
    free_gb = free_gpu / 1024**3
    if fitting == total:
        return Offload(total, total, f"every layer fits in the GPU's {free_gb:.1f} GB free")
    return Offload(fitting, total, f"{fitting} of {total} layers fit in {free_gb:.1f} GB free")


def plan_offload(
    header: GGUFHeader, n_ctx: int, backend: str, setting: int | None = None
) -> Offload | None:
    """The GPU layers a model loads with on `backend` (`None` on the CPU): what fits in the
    free memory `nvidia-smi` reports for CUDA, every layer where free memory is unknown,
    or `setting` (`gpu_layers` in config.toml)."""
    if backend == "CPU":
        return None
    from r1chat.models.machine import free_gpu_memory

    free = free_gpu_memory() if backend == "CUDA" else None
    shape = ModelShape.from_header(header)
    return offload_layers(header.tensor_bytes, shape, n_ctx, free, setting)


def fewer_layers(layers: int) -> int:
    """The next try after the GPU ran out of memory with `layers` on it: a quarter fewer."""
    return max(0, min(layers - 1, int(layers * 0.75)))
