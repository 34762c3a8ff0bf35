"""Provides the model commands: models, pull, doctor and use."""

from __future__ import annotations

import json
import sys
from typing import Any

from r1chat.cli.console import cell, cell_len, console
from r1chat.config import Settings, load_settings, save_setting
from r1chat.errors import ModelError, R1ChatError
from r1chat.models.advice import doctor_report
from r1chat.models.catalog import ModelInfo, describe_all
from r1chat.models.discovery import all_models, pulled, resolve_model
from r1chat.models.fit import OVERHEAD_BYTES
from r1chat.models.machine import Machine, inspect_machine
from r1chat.models.presets import QUANTS_BITS
from r1chat.paths import Paths
from r1chat.text import terminal_safe


def build_lines(build: dict[str, Any] | None) -> list[str]:
    """`doctor`'s lines on the CPU, the llama.cpp build and the build check."""
    if not build:
        return []
    cpu = build["cpu"]
    features = " ".join(cpu["features"]) or "none reported"
    lines = [
        f"CPU {cpu['model']}: {features}",
        f"llama.cpp compiled for: {' '.join(build['compiled']) or 'unknown'}",
    ]
    check = build["check"]
    if check is None:
        lines.append(
            "build check: not run yet (the first model load runs it; or r1chat doctor "
            "--check-build)"
        )
    elif check["passed"]:
        speed = check.get("prompt_tokens_per_second")
        rate = f", prompt batch at {speed:,.0f} tokens/s" if speed else ""
        lines.append(f"build check: passed{rate}; safe mode off")
    elif check["safe_mode"]:
        lines.append(
            f"build check: llama.cpp {check['failure']}; safe mode ON (no extra buffer "
            "types: slower, but it runs)"
        )
    else:
        lines.append(
            f"build check: llama.cpp {check['failure']}, and {check['safe_failure']} in safe "
            "mode: it cannot run here until it is rebuilt"
        )
    return lines


def planned_offload(machine: Machine, paths: Paths, settings: Settings, n_ctx: int) -> str | None:
    """`GPU offload: CUDA 24/28 layers of MODEL (why)`, for the model r1chat would load."""
    if not machine.gpu_offload:
        return None
    from r1chat.models.discovery import choose_model
    from r1chat.models.fit import plan_offload
    from r1chat.models.gguf_header import read_header

    try:
        header = read_header(choose_model(settings, paths).path)
    except R1ChatError:
        return f"GPU offload: {machine.backend}, as many layers as fit (no model to size)"
    plan = plan_offload(header, n_ctx, machine.backend or "GPU", settings.gpu_layers)
    if plan is None:
        return None
    return f"GPU offload: {machine.backend} {plan.label} of {header.path.name} ({plan.why})"


def recheck_build(paths: Paths, settings: Settings, quiet: bool) -> None:
    """Forget what the build check found and run it again on the model r1chat would load."""
    from r1chat.core.models import check_build_again
    from r1chat.models.discovery import choose_model

    model = choose_model(settings, paths).path
    if not quiet:
        print(f"Trying llama.cpp on this CPU with {model.name} in a child process…")
    check_build_again(model, paths, settings)


def gb(value: int | float | None) -> str:
    """Bytes as a short decimal size."""
    if not value:
        return "?"
    if value >= 1e9:
        return f"{value / 1e9:.1f} GB"
    return f"{value / 1e6:.0f} MB"


def params_label(count: int) -> str:
    """Weights as `135M` or `7.6B`."""
    if count >= 1e9:
        return f"{count / 1e9:.1f}B"
    if count >= 1e6:
        return f"{count / 1e6:.0f}M"
    return str(count) if count else "?"


def models_command(as_json: bool) -> None:
    """`r1chat models`."""
    paths = Paths.from_env()
    settings = load_settings(paths)
    machine = inspect_machine()
    infos = describe_all(
        all_models(paths, settings), machine.model_memory_bytes, paths.cache_dir / "models.json"
    )
    if as_json:
        print(json.dumps([info.to_dict() for info in infos], ensure_ascii=True, indent=2))
        return
    if not infos:
        print("No models found. Fetch one with `r1chat pull r1-1.5b` (or r1-7b on 16 GB).")
        return
    _models_table(infos, machine)


def remote_models_command(url: str, as_json: bool) -> None:
    """`r1chat models --remote URL`: what the server serves (a configured name works too)."""
    from r1chat.core.models import served_models

    where, served = served_models(url, load_settings(Paths.from_env()))
    if as_json:
        print(json.dumps(served, ensure_ascii=True, indent=2))
        return
    if not served:
        print(f"{where} serves no models.")
        return
    out = console()
    from rich.text import Text

    out.print(Text(f"{where} serves:", style="bold"))
    for entry in served:
        line = Text("  " + terminal_safe(entry["id"]))
        if entry["n_ctx"]:
            line.append(f"  (context {entry['n_ctx']:,})", style="dim")
        out.print(line)


def _models_table(infos: list[ModelInfo], machine: Machine) -> None:
    from rich.text import Text

    out = console()
    fixed = [
        ("arch", 7),
        ("params", 6),
        ("quant", 7),
        ("size", 7),
        ("context", 7),
        ("R1", 3),
        ("fits", 8),
        ("source", 13),
    ]
    # Names are what `use` and `--model` take: never cut them. Columns go instead, the
    # least needed first, until a line fits the terminal.
    name_width = max([10, *(cell_len(info.name) for info in infos)])
    for dropped in ("source", "arch", "context", "params", "quant"):
        if name_width + 1 + sum(w + 1 for _, w in fixed) <= out.width:
            break
        fixed = [column for column in fixed if column[0] != dropped]
    header = cell("name", name_width) + " " + " ".join(cell(n, w) for n, w in fixed)
    out.print(Text(header.rstrip(), style="bold"), no_wrap=True, overflow="ignore", crop=False)
    styles = {"fits": "green", "tight": "yellow"}
    for info in infos:
        line = Text(cell(info.name, name_width) + " ")
        if info.error:
            values = {"size": gb(info.size), "fits": "unusable", "source": info.source}
        else:
            values = {
                "arch": info.architecture or "?",
                "params": params_label(info.parameters),
                "quant": info.quantization or "?",
                "size": gb(info.size),
                "context": f"{info.context_length:,}" if info.context_length else "?",
                "R1": "yes" if info.reasoning else "",
                "fits": info.fits or "?",
                "source": info.source,
            }
        for column, width in fixed:
            value = values.get(column, "")
            style = ""
            if column == "fits":
                style = styles.get(value, "red") if value else ""
            line.append(cell(value, width) + " ", style=style)
        line.rstrip()
        out.print(line, no_wrap=True, overflow="ignore", crop=False)
    memory = "GPU memory" if machine.gpu_offload and machine.gpus else "free RAM"
    out.print(
        Text(
            f"fits: weights + KV cache for the default context + {gb(OVERHEAD_BYTES)}, "
            f"against {gb(machine.model_memory_bytes)} of {memory}.",
            style="dim",
        )
    )
    for info in infos:
        if info.error:
            out.print(Text(terminal_safe(f"{info.name}: {info.error}"), style="red"))
    flagged = [i for i in infos if i.template_flags]
    for info in flagged:
        out.print(
            Text(
                f"{terminal_safe(info.name)}: its chat template reaches for "
                f"{terminal_safe(', '.join(info.template_flags[:3]))}; "
                "r1chat refuses it unless --trust-template.",
                style="yellow",
            )
        )


def use_command(spec: str) -> None:
    """`r1chat use NAME|PATH`: make it the default model."""
    paths = Paths.from_env()
    settings = load_settings(paths)
    path = pulled(spec, resolve_model(spec, paths, settings))
    if not path.exists():
        raise ModelError(
            f"No model named or found at '{terminal_safe(spec)}'; see `r1chat models`."
        )
    from r1chat.core.models import check_template

    check_template(path, settings.trust_template)  # refused now, not at the next chat
    save_setting(paths, "", "model", str(path))
    print(f"Default model: {terminal_safe(str(path))}", file=sys.stderr)


def pull_command(spec: str, quant: str | None, as_json: bool) -> None:
    """`r1chat pull`."""
    from r1chat.models.pull import pull, target_for

    paths = Paths.from_env()
    target = target_for(spec, quant)
    print(f"Pulling {target.repo}/{target.filename} …", file=sys.stderr)
    pulled = pull(target, paths, progress=sys.stderr.isatty())
    check = "SHA-256 verified" if pulled.verified else "no published SHA-256 to check"
    if as_json:
        print(
            json.dumps(
                {
                    "name": pulled.name,
                    "path": str(pulled.path),
                    "size": pulled.size,
                    "sha256": pulled.sha256,
                    "verified": pulled.verified,
                },
                indent=2,
            )
        )
        return
    print(f"Pulled {pulled.name}: {pulled.path} ({gb(pulled.size)}, {check}).")
    print(
        f"Use it with: r1chat --model {pulled.name}   (or make it the default: r1chat use "
        f"{pulled.name})"
    )


def doctor_command(n_ctx: int, as_json: bool, check_build: bool = False) -> None:
    """`r1chat doctor` (`check_build`: try the llama.cpp build on this CPU again now)."""
    if n_ctx < 256:
        raise R1ChatError("--n-ctx must be at least 256.")
    paths = Paths.from_env()
    settings = load_settings(paths)
    if check_build:
        recheck_build(paths, settings, quiet=as_json)
    machine = inspect_machine()
    report = doctor_report(
        machine, paths.models_dir, n_ctx, settings.threads, paths.build_checks_file
    )
    report["gpu_offload"] = planned_offload(machine, paths, settings, n_ctx)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.table import Table
    from rich.text import Text

    out = console()
    build = machine.backend or "not installed"
    offload = "GPU offload supported" if machine.gpu_offload else "no GPU offload"
    lines = [
        f"Python {machine.python} on {machine.platform}, {machine.cpus} CPUs",
        f"llama-cpp-python {machine.llama_cpp_version or 'missing'}: {build} build, {offload}",
        f"RAM {gb(machine.ram_bytes)} ({gb(machine.ram_available_bytes)} available)",
    ]
    lines += [f"GPU {gpu.name}: {gb(gpu.memory_bytes)} ({gpu.kind})" for gpu in machine.gpus]
    if not machine.gpus:
        lines.append("GPU none found")
    lines.append(f"free disk for models ({paths.models_dir}): {gb(report['free_disk_bytes'])}")
    chosen = report["llama_threads"]
    lines.append(f"llama.cpp threads: {chosen['threads']} ({chosen['why']})")
    if chosen.get("adapts"):
        others = chosen.get("others_busy_cores")
        now = f"now {others:.1f} cores busy elsewhere, " if others is not None else ""
        lines.append(
            f"  adapts while replying: one fewer while other programs keep a core busy or "
            f"the workers stall ({now}a reply would start with {chosen['starts_with']}); "
            "threads in config.toml fixes the count"
        )
    lines += build_lines(report["build"])
    if report["gpu_offload"]:
        lines.append(report["gpu_offload"])
    for line in lines:
        out.print(Text(line))
    out.print()
    out.print(
        Text(
            f"DeepSeek-R1 distills with room for {n_ctx:,} tokens of context "
            f"(f16 KV cache), against {gb(report['memory_for_models_bytes'])}:",
            style="bold",
        )
    )
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("model", no_wrap=True)
    table.add_column("KV", no_wrap=True)
    for quant in QUANTS_BITS:
        table.add_column(quant, no_wrap=True, justify="right")
    style = {"fits": "green", "tight": "yellow", "too big": "red"}
    for row in report["r1_distills"]:
        cells = [Text(row["model"]), Text(gb(row["kv_cache_bytes"]).replace(" ", ""))]
        for quant in QUANTS_BITS:
            entry = row["quants"][quant]
            mark = {"fits": "✓", "tight": "~", "too big": "✗"}[entry["fits"]]
            size = f"{entry['size'] / 1e9:.1f}"
            cells.append(Text(f"{mark}{size}", style=style[entry["fits"]]))
        table.add_row(*cells)
    out.print(table)
    out.print(
        Text("file sizes in GB; ✓ fits with a quarter to spare · ~ tight · ✗ too big", style="dim")
    )
    name = report["recommended"]
    if name:
        out.print(
            Text(f"Recommended here: {name} (Q4_K_M): r1chat pull {name}", style="bold green")
        )
    rebuild = (report["build"] or {}).get("rebuild")
    if rebuild:
        out.print()
        out.print(Text("llama.cpp can run faster and safer on this CPU. Rebuild it with:"))
        out.print(Text(rebuild, style="bold"))
    if report["reinstall"]:
        out.print()
        out.print(Text("llama-cpp-python was built without your GPU. Rebuild it with:"))
        out.print(Text(report["reinstall"], style="bold"))
