"""The build check: llama.cpp tried on this CPU in a child, remembered, safe mode when it dies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from r1chat.models import build_check
from r1chat.models.build_check import (
    BuildCheck,
    BuildChecks,
    ProbeRun,
    check_build,
    compiled_features,
    run_child,
)
from r1chat.models.cpu import CPU, build_flags, cmake_args, read_cpu, rebuild_command

ROOT = Path(__file__).resolve().parents[2]
SAPPHIRE_RAPIDS = (
    "fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi2 avx512f avx512cd avx512vl "
    "avx512dq avx512bw avx512_vbmi avx512_vnni avx512_bf16 avx512_fp16 avx_vnni amx_tile "
    "amx_int8 amx_bf16"
)
EPYC = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c bmi2 sha_ni"


def cpu(flags: str, model: str = "Test CPU") -> CPU:
    return CPU(model, "x86_64", frozenset(flags.split()))


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


PASSES = child("import json; print(json.dumps({'prompt_tokens_per_second': 500.0}))")
SIGILL = child("import os, signal; os.kill(os.getpid(), signal.SIGILL)")
SIGSEGV = child("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
HANGS = child("import time; time.sleep(30)")


class Children:
    """Stands in for `probe_command`: the full-speed and safe-mode children to run (real
    processes), counting how often each ran."""

    def __init__(self, full: list[str], safe: list[str]) -> None:
        self.full, self.safe = full, safe
        self.calls: list[bool] = []

    def __call__(self, model: Path, *, safe: bool, threads: int | None, gpu_layers: int):
        self.calls.append(safe)
        return self.safe if safe else self.full


@pytest.fixture
def llama():
    import llama_cpp

    return llama_cpp


def test_a_child_that_dies_of_sigill_means_safe_mode_and_is_remembered(
    tmp_path, monkeypatch, llama
):
    children = Children(SIGILL, PASSES)
    monkeypatch.setattr(build_check, "probe_command", children)
    checks = BuildChecks(tmp_path / "checks.json")
    here = cpu(SAPPHIRE_RAPIDS)
    check = check_build(llama, tmp_path / "m.gguf", checks, cpu=here)
    assert not check.passed and check.safe_mode and check.usable
    assert check.failure == "crashed with SIGILL (illegal instruction)"
    assert check.prompt_tokens_per_second == 500.0
    assert children.calls == [False, True]
    again = check_build(llama, tmp_path / "m.gguf", checks, cpu=here)
    assert again == check and children.calls == [False, True]  # remembered: no child ran


def test_a_segfault_in_both_modes_makes_the_build_unusable(tmp_path, monkeypatch, llama):
    monkeypatch.setattr(build_check, "probe_command", Children(SIGSEGV, SIGSEGV))
    check = check_build(llama, tmp_path / "m.gguf", BuildChecks(tmp_path / "c.json"), cpu=cpu(EPYC))
    assert not check.usable
    assert check.failure == check.safe_failure == "crashed with SIGSEGV"


def test_a_child_that_hangs_counts_as_failed(tmp_path, monkeypatch, llama):
    monkeypatch.setattr(build_check, "probe_command", Children(HANGS, PASSES))
    check = check_build(
        llama, tmp_path / "m.gguf", BuildChecks(tmp_path / "c.json"), cpu=cpu(EPYC), timeout=1.0
    )
    assert check.safe_mode and check.failure is not None and "hung" in check.failure


def test_a_passing_child_means_full_speed(tmp_path, monkeypatch, llama):
    children = Children(PASSES, SIGILL)
    monkeypatch.setattr(build_check, "probe_command", children)
    check = check_build(llama, tmp_path / "m.gguf", BuildChecks(tmp_path / "c.json"), cpu=cpu(EPYC))
    assert check.passed and not check.safe_mode and children.calls == [False]


def test_a_new_build_or_another_cpu_is_checked_again(tmp_path, monkeypatch, llama):
    children = Children(PASSES, PASSES)
    monkeypatch.setattr(build_check, "probe_command", children)
    checks = BuildChecks(tmp_path / "c.json")
    check_build(llama, tmp_path / "m.gguf", checks, cpu=cpu(EPYC))
    check_build(llama, tmp_path / "m.gguf", checks, cpu=cpu(SAPPHIRE_RAPIDS))
    assert len(children.calls) == 2  # another CPU
    monkeypatch.setattr(build_check, "build_identity", lambda _: "0.3.99|libllama.so:1:2")
    check_build(llama, tmp_path / "m.gguf", checks, cpu=cpu(EPYC))
    assert len(children.calls) == 3  # another build
    check_build(llama, tmp_path / "m.gguf", checks, cpu=cpu(EPYC))
    assert len(children.calls) == 3


def test_a_damaged_memory_is_checked_again(tmp_path, monkeypatch, llama):
    children = Children(PASSES, PASSES)
    monkeypatch.setattr(build_check, "probe_command", children)
    memory = tmp_path / "c.json"
    check_build(llama, tmp_path / "m.gguf", BuildChecks(memory), cpu=cpu(EPYC))
    key = next(iter(json.loads(memory.read_text())))
    memory.write_text(json.dumps({key: {"passed": "yes"}}))
    check_build(llama, tmp_path / "m.gguf", BuildChecks(memory), cpu=cpu(EPYC))
    assert len(children.calls) == 2
    assert memory.stat().st_mode & 0o777 == 0o600


def test_probe_runs_say_how_they_failed():
    assert ProbeRun(-4, "").failure == "crashed with SIGILL (illegal instruction)"
    assert ProbeRun(-11, "").failure == "crashed with SIGSEGV"
    assert ProbeRun(0, "", timed_out=True).failure == "hung (no answer within the time allowed)"
    assert ProbeRun(1, "").failure == "failed (exit status 1)"
    assert ProbeRun(0, "loading…\n").failure == "ended without a result"
    assert ProbeRun(0, '{"prompt_tokens_per_second": 12.5}').failure is None
    assert run_child(SIGILL, 30).returncode == -4


@pytest.mark.slow
def test_the_real_probe_reads_a_prompt_batch_on_smollm2_in_both_modes(smollm2_path):
    """The child itself on the real model: it passes here, and in safe mode llama.cpp
    really loads without extra buffer types."""
    full = run_child(
        build_check.probe_command(smollm2_path, safe=False, threads=1, gpu_layers=0), 120
    )
    safe = run_child(
        build_check.probe_command(smollm2_path, safe=True, threads=1, gpu_layers=0), 120
    )
    assert full.failure is None and safe.failure is None
    assert json.loads(full.stdout.splitlines()[-1])["prompt_tokens"] == build_check.PROBE_TOKENS
    assert json.loads(full.stdout.splitlines()[-1])["extra_buffers"] is True
    assert json.loads(safe.stdout.splitlines()[-1])["extra_buffers"] is False
    assert (full.prompt_tokens_per_second or 0) > 0


def remember_for_this_build(memory: Path, **verdict: object) -> None:
    import llama_cpp

    check = BuildCheck(
        build_check.build_identity(llama_cpp),
        read_cpu().fingerprint,
        **verdict,  # type: ignore[arg-type]
    )
    BuildChecks(memory).remember(check)


@pytest.mark.slow
def test_the_engine_runs_a_crashing_build_in_safe_mode_and_says_so(smollm2_path, tmp_path):
    from r1chat.engine.llama import LlamaEngine

    memory = tmp_path / "checks.json"
    remember_for_this_build(
        memory,
        passed=False,
        safe_mode=True,
        failure="crashed with SIGILL (illegal instruction)",
        prompt_tokens_per_second=61.0,
    )
    engine = LlamaEngine(
        smollm2_path, n_ctx=256, log_path=tmp_path / "llama.log", build_checks=BuildChecks(memory)
    )
    try:
        assert engine.safe_mode
        assert engine._llm.model_params.use_extra_bufts is False  # what llama.cpp was handed
        info = engine.info
        assert info.safe_mode and info.backend_label == "CPU safe mode"
        assert info.notice.startswith("llama.cpp crashed with SIGILL (illegal instruction) on")
        assert "safe mode" in info.notice and "61 tokens/s" in info.notice
        assert "--no-cache-dir --force-reinstall" in info.notice
        assert "\n" not in info.notice and info.notice.endswith(
            "llama-cpp-python==" + llama_version()
        )
    finally:
        engine.close()
    normal = LlamaEngine(smollm2_path, n_ctx=256, log_path=tmp_path / "llama.log")
    try:
        assert not normal.safe_mode and normal._llm.model_params.use_extra_bufts is True
        assert normal.info.notice == ""
    finally:
        normal.close()


def test_a_build_that_dies_in_both_modes_is_refused_in_one_sentence(smollm2_path, tmp_path):
    from r1chat.engine.llama import LlamaEngine
    from r1chat.errors import ModelError

    memory = tmp_path / "checks.json"
    remember_for_this_build(
        memory,
        passed=False,
        safe_mode=False,
        failure="crashed with SIGILL (illegal instruction)",
        safe_failure="crashed with SIGILL (illegal instruction)",
    )
    with pytest.raises(ModelError) as raised:
        LlamaEngine(smollm2_path, log_path=tmp_path / "l.log", build_checks=BuildChecks(memory))
    message = str(raised.value)
    assert "\n" not in message and "in safe mode too" in message
    assert "-m pip install --no-cache-dir --force-reinstall --no-deps" in message


def test_build_flags_leave_amx_out_where_native_builds_crash():
    flags = build_flags(cpu(SAPPHIRE_RAPIDS))
    assert flags[0] == "-DGGML_NATIVE=OFF"
    for option in ("AVX", "AVX2", "FMA", "F16C", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI"):
        assert f"-DGGML_{option}=ON" in flags
    assert "-DGGML_AVX512_BF16=ON" in flags and "-DGGML_AVX_VNNI=ON" in flags
    assert not any("AMX" in flag for flag in flags)
    assert build_flags(cpu(EPYC)) == []  # no AMX: the native build
    assert build_flags(cpu(EPYC + " amx_tile")) == [
        "-DGGML_NATIVE=OFF",
        "-DGGML_AVX=ON",
        "-DGGML_AVX2=ON",
        "-DGGML_FMA=ON",
        "-DGGML_F16C=ON",
        "-DGGML_BMI2=ON",
    ]  # no AVX-512 asked of a CPU without it


def test_cmake_args_keep_what_the_user_set():
    args = cmake_args(cpu(SAPPHIRE_RAPIDS), "-DGGML_CUDA=on -DGGML_AVX512=OFF")
    assert args.startswith("-DGGML_CUDA=on -DGGML_AVX512=OFF -DGGML_NATIVE=OFF")
    assert "-DGGML_AVX512=ON" not in args
    assert cmake_args(cpu(EPYC), "-DGGML_METAL=on") == "-DGGML_METAL=on"
    command = rebuild_command(cpu(SAPPHIRE_RAPIDS), "0.3.36", "", python="/x/python")
    assert command.startswith("CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX=ON")
    assert command.endswith(
        "/x/python -m pip install --no-cache-dir --force-reinstall --no-deps "
        "llama-cpp-python==0.3.36"
    )


def test_cpu_is_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        f"processor\t: 0\nmodel name\t: Intel Xeon Platinum 8480+\nflags\t\t: {SAPPHIRE_RAPIDS}\n\n"
        f"processor\t: 1\nmodel name\t: Intel Xeon Platinum 8480+\nflags\t\t: {SAPPHIRE_RAPIDS}\n"
    )
    found = read_cpu(info)
    assert found.model == "Intel Xeon Platinum 8480+" and found.amx
    assert "avx512_bf16" in found.notable_flags() and "amx_tile" in found.notable_flags()
    assert found.fingerprint != cpu(EPYC).fingerprint


def test_the_build_flags_command_runs_with_the_standard_library_alone():
    """The README's install command runs it before anything is installed."""
    done = subprocess.run(
        [sys.executable, "-S", "-m", "r1chat.models.cpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"CMAKE_ARGS": "-DGGML_CUDA=on", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("-DGGML_CUDA=on")
    readme = (ROOT / "README.md").read_text()
    assert readme.count('CMAKE_ARGS="$(python3 -m r1chat.models.cpu)"') >= 2


def test_compiled_features_come_from_llamas_system_info():
    info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 0 | AMX_INT8 = 1 | "
    info += "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
    assert compiled_features(info) == [
        "SSE3",
        "SSSE3",
        "AVX",
        "AVX2",
        "AMX_INT8",
        "LLAMAFILE",
        "OPENMP",
        "REPACK",
    ]


def llama_version() -> str:
    import llama_cpp

    return str(llama_cpp.__version__)


def run_r1chat(command, env, *args, timeout: float = 120):
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_ask_and_doctor_say_safe_mode_out_loud(r1chat_command, cli_env, home):
    remember_for_this_build(
        home / "cache" / "build-checks.json",
        passed=False,
        safe_mode=True,
        failure="crashed with SIGILL (illegal instruction)",
        prompt_tokens_per_second=88.0,
    )
    done = run_r1chat(r1chat_command, cli_env, "ask", "--max-tokens", "8", "Say hi.")
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    notice = [line for line in done.stderr.splitlines() if "safe mode" in line]
    assert len(notice) == 1 and notice[0].startswith("r1chat: llama.cpp crashed with SIGILL")
    assert "--no-cache-dir --force-reinstall --no-deps llama-cpp-python==" in notice[0]
    as_json = run_r1chat(r1chat_command, cli_env, "ask", "--max-tokens", "4", "--json", "Hi.")
    assert json.loads(as_json.stdout)["safe_mode"] is True

    doctor = run_r1chat(r1chat_command, {**cli_env, "COLUMNS": "200"}, "doctor")
    assert doctor.returncode == 0, doctor.stderr
    assert "build check: llama.cpp crashed with SIGILL (illegal instruction); safe mode ON" in (
        doctor.stdout
    )
    assert "llama.cpp compiled for: " in doctor.stdout and "CPU " in doctor.stdout
    assert "-m pip install --no-cache-dir --force-reinstall --no-deps" in doctor.stdout
    report = json.loads(run_r1chat(r1chat_command, cli_env, "doctor", "--json").stdout)
    assert report["build"]["safe_mode"] is True and report["build"]["rebuild"]

    # --check-build forgets the verdict and tries the real build again: it passes here.
    checked = run_r1chat(r1chat_command, {**cli_env, "COLUMNS": "200"}, "doctor", "--check-build")
    assert checked.returncode == 0, checked.stderr
    assert "Trying llama.cpp on this CPU with SmolLM2-135M-Instruct.Q4_1.gguf" in checked.stdout
    assert "build check: passed, prompt batch at " in checked.stdout
    assert "safe mode off" in checked.stdout and "Rebuild it with" not in checked.stdout
