"""Provides `main`, the `r1chat` command: the chat app on a plain launch, the command
line parser (`r1chat.cli.commands`) for anything else, and one line for every error.

A plain `r1chat` opens the app without importing typer or building its parser: both
come before the first screen otherwise (typer and click ~0.06 s to import, the parser's
coercion of each option ~0.2 s).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn

from r1chat.errors import R1ChatError


def _debug_requested(argv: list[str]) -> tuple[list[str], bool]:
    """The arguments without `--debug` (taken anywhere before a `--`), and whether it or
    R1CHAT_DEBUG asked for tracebacks."""
    end = argv.index("--") if "--" in argv else len(argv)
    kept = [arg for arg in argv[:end] if arg != "--debug"] + argv[end:]
    asked = len(kept) != len(argv) or os.environ.get("R1CHAT_DEBUG", "") not in ("", "0")
    return kept, asked


def _fail(message: str, code: int, debug: bool) -> NoReturn:
    if debug:
        import traceback

        traceback.print_exc()
    from r1chat.text import terminal_safe

    sys.stderr.write(f"r1chat: {terminal_safe(message)}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def _replace_what_cannot_be_shown() -> None:
    """On a terminal or pipe that cannot encode every character (`PYTHONIOENCODING=ascii`,
    a latin-1 locale), print `?` for what it cannot show instead of dying mid-answer."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> None:
    """Run the command line; user errors end in one line on stderr and a non-zero exit.

    Typer handles usage errors, `--help` and Ctrl-C (exit 130) itself; what reaches
    here is r1chat's own errors and anything unexpected.
    """
    args, debug = _debug_requested(sys.argv[1:] if argv is None else argv)
    _replace_what_cannot_be_shown()
    try:
        if args:
            from r1chat.cli.commands import app

            app(args=args, prog_name="r1chat")
        else:
            from r1chat.cli.app import open_app

            open_app()
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
