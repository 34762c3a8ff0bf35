"""Provides which DeepSeek-R1 distill suits this machine: every preset's size and fit for a
context, the threads llama.cpp gets, and the one to suggest pulling."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from r1chat.config import Settings
from r1chat.models.build_check import build_report
from r1chat.models.fit import OVERHEAD_BYTES, fit
from r1chat.models.machine import Machine, free_disk, inspect_machine, reinstall_hint
from r1chat.models.presets import PRESETS, QUANTS_BITS
from r1chat.paths import Paths

CPU_ONLY_CAP = {4: "r1-1.5b", 8: "r1-7b"}
"""Without a GPU, the largest distill worth suggesting for up to this many CPUs: bigger ones
fit in memory but answer at a word or two a second."""


def recommended_preset(table: list[dict[str, Any]], machine: Machine | None = None) -> str | None:
    """The largest R1 distill whose Q4_K_M fits with room to spare (else the smallest that
    fits at all), and on a CPU-only machine not bigger than its cores can run at a useful
    speed: what `doctor` suggests pulling."""
    fitting = [row["model"] for row in table if row["quants"]["Q4_K_M"]["fits"] == "fits"]
    if machine is not None and not machine.gpu_offload:
        cap = next((name for cpus, name in CPU_ONLY_CAP.items() if machine.cpus <= cpus), None)
        if cap is not None and cap in fitting:
            fitting = fitting[: fitting.index(cap) + 1]
    if fitting:
        return str(fitting[-1])
    tight = [row["model"] for row in table if row["quants"]["Q4_K_M"]["fits"] == "tight"]
    return str(tight[0]) if tight else None


def recommendation_line(paths: Paths, settings: Settings) -> str:
    """One sentence naming the R1 distill that fits this machine, and how to get it."""
    report = doctor_report(inspect_machine(), paths.models_dir, 8192, settings.threads)
    name = report["recommended"]
    if name is None:
        return "No DeepSeek-R1 distill fits this machine's memory; see `r1chat doctor`."
    return f"For DeepSeek-R1 on this machine: `r1chat pull {name}`, then `r1chat use {name}`."


def doctor_report(
    machine: Machine,
    models_dir: Path,
    n_ctx: int,
    threads: int | None = None,
    build_checks: Path | None = None,
) -> dict[str, Any]:
    """What `doctor` prints, as data (`threads`: the config's setting, if any;
    `build_checks`: where the build check keeps its verdicts)."""
    from r1chat.models.hardware import default_threads
    from r1chat.models.threads import OthersLoad, ThreadPilot

    choice = default_threads()
    thread_report: dict[str, Any] = (
        {"threads": threads, "why": "set by `threads` in config.toml", "adapts": False}
        if threads
        else {"threads": choice.threads, "why": choice.why, "adapts": choice.threads > 1}
    )
    if thread_report["adapts"]:
        load = OthersLoad()
        load.look()
        time.sleep(0.3)
        others = load.look()
        thread_report["others_busy_cores"] = others
        thread_report["starts_with"] = ThreadPilot(choice.threads).before_reply(others)
    memory = machine.model_memory_bytes
    table = []
    for preset in PRESETS.values():
        kv = preset.shape.kv_bytes(n_ctx)
        row: dict[str, Any] = {
            "model": preset.name,
            "repo": preset.repo,
            "kv_cache_bytes": kv,
            "kv_bytes_per_token": preset.shape.kv_bytes_per_token(),
            "quants": {},
        }
        for quant in QUANTS_BITS:
            size = preset.size_bytes(quant)
            needed = size + kv + OVERHEAD_BYTES
            row["quants"][quant] = {"size": size, "needed": needed, "fits": fit(needed, memory)}
        table.append(row)
    return {
        "recommended": recommended_preset(table, machine),
        "machine": machine.to_dict(),
        "models_dir": str(models_dir),
        "free_disk_bytes": free_disk(models_dir),
        "n_ctx": n_ctx,
        "memory_for_models_bytes": memory,
        "llama_threads": thread_report,
        "r1_distills": table,
        "reinstall": reinstall_hint(machine),
        "build": build_report(build_checks) if build_checks is not None else None,
    }
