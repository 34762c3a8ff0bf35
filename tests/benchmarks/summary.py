"""Provides `r1chat bench summary`: every speed figure that matters to a user, one table.

It runs the other benches in turn and keeps what each measures best: the app in a
pseudo-terminal against bare llama-cpp-python in its own process (`bench ui`), the
app against a server through a timing proxy against a bare client (`bench
--remote`, only with `--remote URL`), `r1chat` to its first screen and to its model
loaded, keys typed while a reply streams to their echo, Esc to stopped, and prompt
lookup against bare greedy llama-cpp-python (`bench lookup`).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from typing import Any

from r1chat.config import load_settings
from r1chat.errors import R1ChatError
from r1chat.models.cpu import read_cpu
from r1chat.models.discovery import choose_model
from r1chat.paths import Paths


def summary_report(
    model: str | None, remote: str | None, remote_model: str | None
) -> dict[str, Any]:
    """Run the benches and keep their headline figures."""
    from tests.benchmarks.engine import lookup_report
    from tests.benchmarks.remote import remote_report
    from tests.benchmarks.terminal import bench_prompt, terminal_figures

    if sys.platform == "win32":
        raise R1ChatError("bench summary needs a POSIX pseudo-terminal; run bench lookup instead.")
    paths = Paths.from_env()
    choice = choose_model(load_settings(paths), paths, model)
    prompt, name, n_ctx = bench_prompt(choice.path)
    far = remote_report(remote, remote_model, 256, 3) if remote else None
    local = terminal_figures(choice.path, name, prompt, n_ctx).as_dict()
    report: dict[str, Any] = {
        "machine": f"{read_cpu().model}, {os.cpu_count()} CPUs",
        "model": name,
        "local": local,
        "lookup": lookup_report(model=model, tokens=256, rounds=5),
        "remote": far,
    }
    return report


def summary_table(report: dict[str, Any]) -> str:
    """One row per figure: what r1chat does, its baseline, and the ratio."""
    local = report["local"]
    bare = local["bare_tokens_per_second"][local["default_threads"]]
    app = local["app_tokens_per_second"]
    ui_ms = local["ui_thread_cores"] / app * 1000 if app else 0.0
    stops = local["esc_to_stopped_ms"]
    typed = local["typed_to_shown_ms"]
    screens, loaded = local["launch_to_screen_seconds"], local["launch_to_model_seconds"]
    rows = [
        (
            "local: the app in a terminal, tok/s",
            f"{app:.1f}",
            f"bare {bare:.1f}",
            f"{local['app_over_bare']:.3f}",
        ),
        (
            "local: UI thread's CPU per token",
            f"{ui_ms:.2f} ms",
            "",
            f"{local['ui_thread_cores']:.3f} of a core",
        ),
    ]
    remote = report.get("remote")
    if remote:
        speeds = remote["tokens_per_second"]
        rows += [
            (
                "remote: the app, 1st turn, tok/s",
                f"{speeds['app']:.1f}",
                f"bare {speeds['bare']:.1f}",
                f"{remote['app_over_bare']:.3f}",
            ),
            (
                "remote: the app, 2nd turn, tok/s",
                f"{speeds['app_second']:.1f}",
                f"bare {speeds['bare_second']:.1f}",
                f"{remote['app_second_over_bare']:.3f}",
            ),
            (
                "remote: last token to finished",
                f"{remote['last_token_to_finished_seconds'] * 1000:.0f} ms",
                "",
                "",
            ),
        ]
    rows += [
        (
            "Esc to stopped on screen",
            f"{statistics.median(stops):.0f} ms",
            f"worst {max(stops):.0f} ms",
            "",
        ),
        (
            "keys typed while streaming, to shown",
            f"{statistics.median(typed):.0f} ms",
            f"worst {max(typed):.0f} ms",
            "",
        ),
        (
            "`r1chat` to its first screen",
            f"{statistics.median(screens):.2f} s",
            f"model in {statistics.median(loaded):.2f} s",
            "",
        ),
    ]
    for kind, row in report["lookup"]["prompts"].items():
        kept = f"kept {row['kept']}/{row['drafted']}" if row["drafted"] else "no drafts"
        rows.append(
            (
                f"prompt lookup, {kind} prompt, tok/s",
                f"{row['lookup_tokens_per_second']:.1f}",
                f"bare {row['raw_tokens_per_second']:.1f}",
                f"{row['lookup_over_raw']:.3f} ({kept})",
            )
        )
    width = max(len(row[0]) for row in rows) + 2
    lines = [
        f"r1chat bench summary: {report['model']} on {report['machine']}; medians of "
        "alternating runs, 256 greedy tokens",
        "",
        f"{'':{width}}{'r1chat':>12}{'baseline':>16}  ratio",
    ]
    lines += [f"{a:{width}}{b:>12}{c:>16}  {d}" for a, b, c, d in rows]
    return "\n".join(lines)


def run_summary_bench(
    model: str | None, remote: str | None, remote_model: str | None, json_output: bool
) -> None:
    """`r1chat bench summary`."""
    report = summary_report(model, remote, remote_model)
    print(json.dumps(report, indent=2) if json_output else summary_table(report))
