"""Provides `app`: the `r1chat` command line parser (typer) and its commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from r1chat import __version__
from r1chat.cli.options import (
    JsonOutput,
    MaxTokensOption,
    ModelOption,
    NCtxOption,
    NoThinkOption,
    PresetOption,
    RemoteModelOption,
    RemoteOption,
    SeedOption,
    TemperatureOption,
    ThinkBudgetOption,
    ThreadsOption,
    TopPOption,
    TrustOption,
)

app = typer.Typer(
    name="r1chat",
    help=(
        "Chat with DeepSeek-R1 distills and any GGUF chat model, locally.\n\n"
        "Add --debug to any command to see the traceback behind an error "
        "(R1CHAT_DEBUG=1 does the same)."
    ),
    add_completion=False,
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _sub_apps() -> None:
    """`memory` and `cache` are groups of their own (`r1chat memory add TEXT`)."""
    from r1chat.cli.bench import bench_app
    from r1chat.cli.cache import cache_app
    from r1chat.cli.memory import memory_app

    app.add_typer(memory_app, name="memory", short_help="Facts r1chat remembers about you.")
    app.add_typer(cache_app, name="cache", short_help="Saved llama.cpp contexts: info, clear.")
    app.add_typer(bench_app, name="bench", short_help="Measure r1chat against bare llama.cpp.")


_sub_apps()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"r1chat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    context: typer.Context,
    model: ModelOption = None,
    continue_last: Annotated[
        bool, typer.Option("--continue", "-c", help="Open the most recent conversation.")
    ] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", "-r", help="Open the conversation with this id.")
    ] = None,
    preset: PresetOption = None,
    system: Annotated[
        str | None, typer.Option("--system", "-s", help="System prompt for new chats.")
    ] = None,
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    max_tokens: MaxTokensOption = None,
    seed: SeedOption = None,
    n_ctx: NCtxOption = None,
    threads: ThreadsOption = None,
    think_budget: ThinkBudgetOption = None,
    no_think: NoThinkOption = False,
    remote: RemoteOption = None,
    remote_model: RemoteModelOption = None,
    trust_template: TrustOption = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Chat with DeepSeek-R1 distills and any GGUF chat model, locally and privately.

    With no command, opens the chat app. Sampling flags and --preset apply to new chats
    and to the chat opened with -c or -r.
    """
    if context.invoked_subcommand is not None:
        return
    from r1chat.cli.app import open_app

    open_app(
        model=model,
        continue_last=continue_last,
        resume=resume,
        preset=preset,
        system=system,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed=seed,
        n_ctx=n_ctx,
        threads=threads,
        think_budget=think_budget,
        no_think=no_think,
        remote=remote,
        remote_model=remote_model,
        trust_template=trust_template,
    )


@app.command(short_help="Answer one question (answer on stdout, thinking on stderr).")
def ask(
    prompt: Annotated[
        str | None, typer.Argument(help="The question; '-' or nothing reads it from stdin.")
    ] = None,
    model: ModelOption = None,
    preset: PresetOption = None,
    max_tokens: MaxTokensOption = None,
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    seed: SeedOption = None,
    n_ctx: NCtxOption = None,
    threads: ThreadsOption = None,
    system: Annotated[
        str | None, typer.Option("--system", "-s", help="System prompt for this question.")
    ] = None,
    show_thinking: Annotated[
        bool | None,
        typer.Option(
            "--show-thinking/--hide-thinking",
            help="Print the reasoning on stderr (default: when stdout is a terminal).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object at the end instead.")
    ] = False,
    continue_last: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the most recent conversation.")
    ] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", "-r", help="Continue the conversation with this id.")
    ] = None,
    no_save: Annotated[
        bool, typer.Option("--no-save", help="Do not save this conversation.")
    ] = False,
    think_budget: ThinkBudgetOption = None,
    no_think: NoThinkOption = False,
    remote: RemoteOption = None,
    remote_model: RemoteModelOption = None,
    trust_template: TrustOption = False,
) -> None:
    """Answer one question, streaming the answer to stdout and the reasoning to stderr.

    The conversation is saved (its id goes to stderr) unless --no-save is given.
    While an R1 model reasons, a first Ctrl-C makes it answer from what it has thought
    so far; a second one stops the reply.
    """
    from r1chat.cli.ask import run_ask

    code = run_ask(
        prompt,
        model=model,
        overrides={
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
            "seed": seed,
            "n_ctx": n_ctx,
            "system_prompt": system,
            "show_thinking": show_thinking,
            "think_budget": think_budget,
            "thinking": False if no_think else None,
            "trust_template": trust_template or None,
            "threads": threads,
        },
        preset=preset,
        json_output=json_output,
        continue_last=continue_last,
        resume=resume,
        save=not no_save,
        remote=remote,
        remote_model=remote_model,
    )
    raise typer.Exit(code)


@app.command(short_help="GGUF models here, and what each is and whether it fits.")
def models(
    remote: Annotated[
        str | None,
        typer.Option("--remote", help="List the models an OpenAI-compatible server serves."),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """GGUF models on this machine: configured folders, r1chat's, Hugging Face, LM Studio,
    Ollama and the demo model, with what each is and whether it fits; the configured
    remote endpoints; or, with --remote, a server's models."""
    from r1chat.cli.models import models_command, remote_models_command

    if remote is not None:
        remote_models_command(remote, json_output)
        return
    models_command(json_output)


@app.command(short_help="Download a model from Hugging Face (resumable, checked).")
def pull(
    name: Annotated[
        str,
        typer.Argument(help="A preset (r1-1.5b, r1-7b, r1-8b, r1-14b, r1-32b) or org/repo[:file]."),
    ],
    quant: Annotated[
        str | None, typer.Option("--quant", "-q", help="Quantization (default Q4_K_M).")
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Download a model from the Hugging Face hub (resumable, SHA-256 checked)."""
    from r1chat.cli.models import pull_command

    pull_command(name, quant, json_output)


@app.command(short_help="This machine, llama.cpp's build, and which models fit.")
def doctor(
    n_ctx: Annotated[
        int,
        typer.Option(
            "--n-ctx", help="Context to leave room for in the fit table (the app's default)."
        ),
    ] = 8192,
    check_build: Annotated[
        bool,
        typer.Option(
            "--check-build",
            help="Try llama.cpp's build on this CPU again now, in a child process.",
        ),
    ] = False,
    json_output: JsonOutput = False,
) -> None:
    """This machine, llama.cpp's build, and which R1 distills fit in its memory."""
    from r1chat.cli.models import doctor_command

    doctor_command(n_ctx, json_output, check_build)


@app.command()
def use(
    model: Annotated[str, typer.Argument(help="A model name from `r1chat models`, or a path.")],
) -> None:
    """Make a model the default (written to config.toml)."""
    from r1chat.cli.models import use_command

    use_command(model)


IdArgument = Annotated[str, typer.Argument(help="Conversation id, or a unique start of it.")]
ThinkingOption = Annotated[bool, typer.Option("--thinking", help="Include the model's reasoning.")]


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many to show.")] = 30,
    json_output: JsonOutput = False,
) -> None:
    """Saved conversations, newest first."""
    from r1chat.cli.chats import list_command

    list_command(limit, json_output)


@app.command()
def show(
    conversation: IdArgument,
    thinking: ThinkingOption = False,
    json_output: JsonOutput = False,
) -> None:
    """Print a saved conversation."""
    from r1chat.cli.chats import show_command

    show_command(conversation, thinking, json_output)


@app.command(short_help="Export a conversation as Markdown or JSON.")
def export(
    conversation: Annotated[
        str | None, typer.Argument(help="Conversation id (or a unique start of it).")
    ] = None,
    all_conversations: Annotated[
        bool, typer.Option("--all", help="Every conversation (JSON).")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="md or json.")] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    thinking: ThinkingOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the --output file if it exists.")
    ] = False,
) -> None:
    """Export a conversation as Markdown or JSON (JSON keeps everything and imports back)."""
    from r1chat.cli.chats import export_command

    export_command(conversation, all_conversations, fmt, output, thinking, force)


@app.command("import", short_help="Import conversations from an r1chat JSON export.")
def import_(
    file: Annotated[Path, typer.Argument(help="A JSON file from `r1chat export`.")],
) -> None:
    """Import conversations from an r1chat JSON export (saved ones are never overwritten)."""
    from r1chat.cli.chats import import_command

    import_command(file)


@app.command()
def rm(
    conversation: IdArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a saved conversation."""
    from r1chat.cli.chats import rm_command

    rm_command(conversation, yes)


@app.command()
def rename(
    conversation: IdArgument,
    title: Annotated[str, typer.Argument(help="The new title.")],
) -> None:
    """Give a saved conversation a new title."""
    from r1chat.cli.chats import rename_command

    rename_command(conversation, title)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='Words to find (all of them); "a phrase" works.')],
    thinking: Annotated[bool, typer.Option("--thinking", help="Search the reasoning too.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most results.")] = 20,
    json_output: JsonOutput = False,
) -> None:
    """Full-text search over saved answers, messages and titles."""
    from r1chat.cli.chats import search_command

    search_command(query, thinking, limit, json_output)


@app.command(short_help="Tokens, time and speed over time, and what they would cost.")
def stats(
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="DATE", help="From this day (YYYY-MM-DD) or this far back (7d, 4w)."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only this model (as `list` names it).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by", metavar="day|week", help="Per day or week (default: days for a month or less)."
        ),
    ] = None,
    price: Annotated[
        list[str] | None,
        typer.Option(
            "--price",
            metavar="KEY",
            help="Compare with this hosted price: deepseek-r1, openai-o1 or a [prices.KEY] of "
            "config.toml (again for more).",
        ),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Tokens, time and speed over time, and what the same tokens would have cost on a
    hosted API."""
    from r1chat.cli.stats import stats_command

    stats_command(since, model, by, price, json_output)


@app.command(short_help="How the model splits text into tokens.")
def tokens(
    text: Annotated[str, typer.Argument(help="The text; '-' reads it from stdin.")],
    model: ModelOption = None,
    json_output: JsonOutput = False,
) -> None:
    """How the model splits text into tokens: each piece with its id, special ones marked."""
    from r1chat.cli.tokens import tokens_command

    tokens_command(text, model, json_output)
