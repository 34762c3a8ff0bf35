"""Provides `r1chat bench`: the benchmarks, which run from a checkout of r1chat's source.

The benchmarks live beside the tests (`tests/benchmarks/`), not in the installed package:
they drive the app through its public timing hooks and share the tests' scripted engine.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from r1chat.cli.options import ModelOption, RemoteModelOption, RemoteOption
from r1chat.errors import R1ChatError


def benchmark(name: str) -> ModuleType:
    """`tests.benchmarks.NAME` from the checkout r1chat runs from, or one sentence why not."""
    import r1chat

    checkout = Path(r1chat.__file__).resolve().parents[1]
    if not (checkout / "tests" / "benchmarks" / "__init__.py").is_file():
        raise R1ChatError(
            "r1chat bench runs from a checkout of r1chat's source (the benchmarks are not "
            "installed with it): clone the repository, install it with the README's test "
            "command, and run .venv/bin/r1chat bench there."
        )
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    return importlib.import_module(f"tests.benchmarks.{name}")


bench_app = typer.Typer(
    help="Measure r1chat: the engine against raw llama-cpp-python, or the chat store.",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@bench_app.callback()
def bench(
    context: typer.Context,
    model: ModelOption = None,
    tokens: Annotated[int, typer.Option("--tokens", help="Tokens generated per run.")] = 128,
    rounds: Annotated[int, typer.Option("--rounds", help="Runs of each kind, alternated.")] = 3,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    remote: RemoteOption = None,
    remote_model: RemoteModelOption = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Time continuing a long chat with its saved context."),
    ] = False,
) -> None:
    """Compare raw llama-cpp-python streaming with r1chat's engine, in one process and run;
    with --remote, a bare client, r1chat's remote engine and the app on a server."""
    if context.invoked_subcommand is not None:
        return
    if resume:
        run_resume_bench = benchmark("resume").run_resume_bench
        from r1chat.config import load_settings
        from r1chat.models.discovery import choose_model
        from r1chat.paths import Paths

        paths = Paths.from_env()
        run_resume_bench(choose_model(load_settings(paths), paths, model).path, json_output)
        return
    if remote is not None:
        run_remote_bench = benchmark("remote").run_remote_bench

        run_remote_bench(remote, remote_model, tokens, rounds, json_output)
        return
    run_bench = benchmark("engine").run_bench

    run_bench(model=model, tokens=tokens, rounds=rounds, json_output=json_output)


@bench_app.command("summary", short_help="Every speed figure in one table (a few minutes).")
def bench_summary(
    model: ModelOption = None,
    remote: RemoteOption = None,
    remote_model: RemoteModelOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The app in a terminal against bare llama-cpp-python, the UI thread's CPU per token,
    Esc to stopped, keys typed while a reply streams, start-up, prompt lookup on an edit
    prompt and on free text, and with --remote the app on a server against a bare client:
    one table, one run."""
    benchmark("summary").run_summary_bench(model, remote, remote_model, json_output)


@bench_app.command("lookup", short_help="Time prompt lookup against bare llama-cpp-python.")
def bench_lookup(
    model: ModelOption = None,
    tokens: Annotated[int, typer.Option("--tokens", help="Tokens generated per run.")] = 256,
    rounds: Annotated[int, typer.Option("--rounds", help="Runs of each kind, alternated.")] = 5,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Greedy replies from bare llama-cpp-python and from r1chat's engine with and without
    prompt lookup, alternated, on an edit-this-text prompt and on free text: speed,
    drafted tokens kept, and whether the replies are the same."""
    benchmark("engine").run_lookup_bench(
        model=model, tokens=tokens, rounds=rounds, json_output=json_output
    )


@bench_app.command("store", short_help="Time the chat store: list, open, search.")
def bench_store(
    conversations: Annotated[int, typer.Option("--conversations", help="How many.")] = 10_000,
    messages: Annotated[int, typer.Option("--messages", help="Messages in all.")] = 1_000_000,
    big: Annotated[
        int, typer.Option("--big", help="Messages in the one long conversation.")
    ] = 10_000,
    folder: Annotated[
        Path | None, typer.Option("--dir", help="Where to build the store (default: a temp dir).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fill a temporary store and time list, opening a long conversation, and search."""
    run_store_bench = benchmark("store").run_store_bench

    run_store_bench(conversations, messages, big, folder, json_output)


@bench_app.command("chats", short_help="Time show, export, import and open of a huge chat.")
def bench_chats(
    small: Annotated[int, typer.Option("--small", help="Messages in the smaller chat.")] = 20_000,
    large: Annotated[int, typer.Option("--large", help="Messages in the larger chat.")] = 200_000,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time show, export, import and opening of a very long chat at two sizes."""
    if not 0 < small < large:
        raise R1ChatError("--small must be at least 1 and less than --large.")
    benchmark("chats").run_chats_bench(small, large, json_output)


@bench_app.command("ui", short_help="Time the chat app: speed, CPU, start-up, Esc.")
def bench_ui(
    model: ModelOption = None,
    tokens: Annotated[int, typer.Option("--tokens", help="Tokens in the scripted reply.")] = 3000,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time the chat app: streaming speed and CPU, start-up, opening a long conversation."""
    run_ui_bench = benchmark("ui").run_ui_bench

    run_ui_bench(model, tokens, json_output)


@bench_app.command("context", short_help="Time fitting long chats into the context window.")
def bench_context(
    model: ModelOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time context fitting of 500, 2,000 and 8,000 messages into an 8,192-token window."""
    fitting_figures = benchmark("context").fitting_figures
    from r1chat.config import load_settings
    from r1chat.models.discovery import choose_model
    from r1chat.paths import Paths

    paths = Paths.from_env()
    choice = choose_model(load_settings(paths), paths, model)
    figures = fitting_figures(choice.path)
    if json_output:
        import json

        print(json.dumps(figures, indent=2))
        return
    print(f"r1chat bench context ({figures['model']} tokenizer, {figures['n_ctx']:,} tokens)")
    for row in figures["rows"]:
        print(
            f"  {row['messages']:>5,} messages: first fit {row['first_seconds'] * 1000:.1f} ms, "
            f"next fit {row['after_first_seconds'] * 1000:.1f} ms "
            f"(tokenizing the {row['prompt_tokens']:,}-token prompt alone: "
            f"{row['one_prompt_tokenize_seconds'] * 1000:.1f} ms), "
            f"{row['dropped_messages']:,} left out"
        )
