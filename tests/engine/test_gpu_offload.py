"""GPU offload that fits: layers from free VRAM, a config override, fewer after running out."""

from __future__ import annotations

import itertools

import pytest

from r1chat.config import Settings, validate
from r1chat.errors import ConfigError, ModelError
from r1chat.models.fit import ModelShape, Offload, fewer_layers, offload_layers

R1_7B = ModelShape(layers=28, kv_heads=4, head_dim=128)
"""DeepSeek-R1-Distill-Qwen-7B's shape (GQA: 4 KV heads of 128)."""
R1_7B_Q4_K_M = 4_683_073_248
GB = 1024**3


def test_every_layer_goes_to_a_gpu_with_room():
    plan = offload_layers(R1_7B_Q4_K_M, R1_7B, 8192, free_gpu=80 * GB)
    assert (plan.layers, plan.total) == (28, 28) and plan.label == "28/28 layers"
    assert "every layer fits" in plan.why


def test_a_small_gpu_takes_the_layers_that_fit():
    plan = offload_layers(R1_7B_Q4_K_M, R1_7B, 8192, free_gpu=4 * GB)
    per_layer = R1_7B_Q4_K_M / 29 + R1_7B.kv_bytes(8192) / 28
    expected = int((4 * GB - 512 * 1024**2 - R1_7B_Q4_K_M / 29) // per_layer)
    assert plan.layers == expected and 0 < plan.layers < 28
    assert plan.label == f"{expected}/28 layers"
    assert f"{expected} of 28 layers fit in 4.0 GB free" == plan.why


def test_a_full_gpu_takes_none_and_an_unknown_one_takes_all():
    assert offload_layers(R1_7B_Q4_K_M, R1_7B, 8192, free_gpu=256 * 1024**2).layers == 0
    unknown = offload_layers(R1_7B_Q4_K_M, R1_7B, 8192, free_gpu=None)
    assert unknown.layers == 28 and "unknown" in unknown.why


def test_gpu_layers_in_config_wins():
    plan = offload_layers(R1_7B_Q4_K_M, R1_7B, 8192, free_gpu=80 * GB, setting=10)
    assert plan.label == "10/28 layers" and "gpu_layers" in plan.why
    assert offload_layers(R1_7B_Q4_K_M, R1_7B, 8192, 1, setting=99).layers == 28
    assert validate(Settings(gpu_layers=0)).gpu_layers == 0
    with pytest.raises(ConfigError, match="gpu_layers"):
        validate(Settings(gpu_layers=-1))


def test_each_retry_takes_a_quarter_fewer_layers_down_to_none():
    tries = [28]
    while tries[-1]:
        tries.append(fewer_layers(tries[-1]))
    assert tries[:4] == [28, 21, 15, 11] and tries[-1] == 0
    assert all(a > b for a, b in itertools.pairwise(tries))


def test_an_out_of_memory_load_is_retried_with_fewer_layers(r1_engine, monkeypatch):
    """The engine's retry loop, on a tokenizer-only engine with a stubbed loader that runs
    out of GPU memory twice: each try has fewer layers, and the notice says what runs."""
    tried: list[int] = []
    engine = r1_engine
    saved = engine.offload, engine.notice

    def load(threads, vocab_only):
        assert engine.offload is not None
        tried.append(engine.offload.layers)
        if len(tried) < 3:
            raise ModelError("llama.cpp could not load x: cudaMalloc failed: out of memory.")
        return "loaded"

    monkeypatch.setattr(engine, "_load", load)
    engine.offload = Offload(28, 28, "every layer fits")
    try:
        assert engine._load_fitting(False) == "loaded"
        assert tried == [28, 21, 15]
        assert engine.offload.label == "15/28 layers"
        assert "ran out of memory with 21 layers" in engine.notice
        assert "15/28 layers on the GPU" in engine.notice
    finally:
        engine.offload, engine.notice = saved


def test_a_load_failure_that_is_not_memory_is_not_retried(r1_engine, monkeypatch):
    engine = r1_engine
    saved = engine.offload

    def load(threads, vocab_only):
        raise ModelError("llama.cpp could not load x: unknown model architecture.")

    monkeypatch.setattr(engine, "_load", load)
    engine.offload = Offload(28, 28, "every layer fits")
    try:
        with pytest.raises(ModelError, match="architecture"):
            engine._load_fitting(False)
    finally:
        engine.offload = saved


def test_the_status_label_names_layers_and_safe_mode():
    from r1chat.engine.base import EngineInfo

    info = EngineInfo("m", "/m", "CUDA", 4096, False, 0.7, 0.9, offload="24/28 layers")
    assert info.backend_label == "CUDA 24/28 layers"
    cpu = EngineInfo("m", "/m", "CPU", 4096, False, 0.7, 0.9, safe_mode=True)
    assert cpu.backend_label == "CPU safe mode"


def test_free_gpu_memory_is_read_from_nvidia_smi(tmp_path, monkeypatch):
    from r1chat.models.machine import free_gpu_memory, inspect_machine

    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --query-gpu=memory.free) printf "3900\\n80000\\n" ;;\n'
        '  *) printf "NVIDIA H100, 81559\\nNVIDIA T4, 15360\\n" ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    assert free_gpu_memory() == 80000 * 1024 * 1024  # the emptiest GPU
    names = [gpu.name for gpu in inspect_machine().gpus]
    assert names == ["NVIDIA H100", "NVIDIA T4"]
    plan = offload_layers(R1_7B_Q4_K_M, R1_7B, 8192, free_gpu_memory())
    assert plan.label == "28/28 layers"
