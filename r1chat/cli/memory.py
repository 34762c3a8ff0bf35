"""Provides `r1chat memory add|list|edit|rm|clear|off|on`: the facts r1chat remembers about you."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from r1chat.errors import R1ChatError
from r1chat.text import terminal_safe

memory_app = typer.Typer(
    help=(
        "Facts r1chat remembers about you, kept on this machine and put into every chat's "
        "prompt (unless the chat turns memory off)."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

FactNumber = Annotated[str, typer.Argument(help="The fact's number (`r1chat memory list`).")]


def _memory() -> Any:
    from r1chat.core.chats import open_memory

    return open_memory()


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise R1ChatError(
            f"{terminal_safe(text)!r} is not a fact number; `r1chat memory list` shows them."
        ) from None


@memory_app.command("add")
def add(text: Annotated[list[str], typer.Argument(help="What to remember.")]) -> None:
    """Remember a fact."""
    fact = _memory().add(" ".join(text))
    print(f"Remembered as fact {fact.id}.", file=sys.stderr)


@memory_app.command("list")
def list_(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every fact, with its number; facts switched off are marked."""
    facts = _memory().facts()
    if json_output:
        print(json.dumps([f.to_dict() for f in facts], ensure_ascii=True, indent=2))
        return
    if not facts:
        print('No memory facts yet; add one with r1chat memory add "…".', file=sys.stderr)
        return
    from rich.text import Text

    from r1chat.cli.console import console

    out = console()
    for fact in facts:
        line = Text(f"{fact.id:>4}  ", style="cyan")
        line.append(terminal_safe(fact.text), style="" if fact.enabled else "dim")
        if not fact.enabled:
            line.append("  (off)", style="dim")
        out.print(line)


@memory_app.command("edit")
def edit(
    number: FactNumber, text: Annotated[list[str], typer.Argument(help="The new text.")]
) -> None:
    """Change a fact's text."""
    _memory().edit(_number(number), " ".join(text))
    print(f"Fact {number} changed.", file=sys.stderr)


@memory_app.command("rm")
def rm(number: FactNumber) -> None:
    """Forget a fact."""
    _memory().remove(_number(number))
    print(f"Fact {number} forgotten.", file=sys.stderr)


@memory_app.command("off")
def off(number: FactNumber) -> None:
    """Keep a fact but leave it out of prompts."""
    _memory().set_enabled(_number(number), False)
    print(f"Fact {number} is off.", file=sys.stderr)


@memory_app.command("on")
def on(number: FactNumber) -> None:
    """Put a fact switched off back into prompts."""
    _memory().set_enabled(_number(number), True)
    print(f"Fact {number} is on.", file=sys.stderr)


@memory_app.command("clear")
def clear(
    yes: Annotated[bool, typer.Option("--yes", help="Clear without asking.")] = False,
) -> None:
    """Forget every fact."""
    from r1chat.cli.chats import confirm

    if not yes and not (sys.stdin.isatty() and confirm("Forget every memory fact?")):
        raise R1ChatError("Add --yes to forget every memory fact.")
    print(f"Forgot {_memory().clear()} fact(s).", file=sys.stderr)
