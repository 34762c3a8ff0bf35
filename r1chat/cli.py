"""Provides the `r1chat` command line: `ask`, `bench`, and error reporting for all commands."""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer

from r1chat import __version__
from r1chat.errors import R1ChatError

app = typer.Typer(
    name="r1chat",
    help="Chat with DeepSeek-R1 distills and any GGUF chat model, locally.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DebugOption = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks for errors.", show_default=False)
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="GGUF model file (default: config, R1CHAT_MODEL, demo)."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"r1chat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: DebugOption = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Chat with DeepSeek-R1 distills and any GGUF chat model, locally and privately."""


@app.command()
def ask(
    prompt: Annotated[
        str | None, typer.Argument(help="The question; '-' or nothing reads it from stdin.")
    ] = None,
    model: ModelOption = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", "-n", help="Stop after this many tokens.")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", "-t", help="Sampling temperature (R1: 0.6).")
    ] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampling seed (-1: random).")] = None,
    n_ctx: Annotated[int | None, typer.Option("--n-ctx", help="Context window in tokens.")] = None,
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
    debug: DebugOption = False,
) -> None:
    """Answer one question, streaming the answer to stdout and the reasoning to stderr."""
    from r1chat.ask import run_ask

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
        },
        json_output=json_output,
    )
    raise typer.Exit(code)


@app.command()
def bench(
    model: ModelOption = None,
    tokens: Annotated[int, typer.Option("--tokens", help="Tokens generated per run.")] = 128,
    rounds: Annotated[int, typer.Option("--rounds", help="Runs of each kind, alternated.")] = 3,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    debug: DebugOption = False,
) -> None:
    """Compare raw llama-cpp-python streaming with r1chat's engine, in one process and run."""
    from r1chat.bench import run_bench

    run_bench(model=model, tokens=tokens, rounds=rounds, json_output=json_output)


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("R1CHAT_DEBUG", "") not in ("", "0")


def _fail(message: str, code: int, debug: bool) -> NoReturn:
    if debug:
        import traceback

        traceback.print_exc()
    from r1chat.text import terminal_safe

    sys.stderr.write(f"r1chat: {terminal_safe(message)}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the command line; user errors end in one line on stderr and a non-zero exit.

    Typer handles usage errors, `--help` and Ctrl-C (exit 130) itself; what reaches
    here is r1chat's own errors and anything unexpected.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = _debug_requested(args)
    try:
        app(args=args, prog_name="r1chat")
    except R1ChatError as error:
        _fail(str(error), error.exit_code, debug)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise SystemExit(130) from None
    except Exception as error:
        _fail(
            f"unexpected error ({type(error).__name__}: {error}); run again with --debug and "
            "report it.",
            1,
            debug,
        )
