"""Provides `r1chat tokens`: how a model splits text into tokens."""

from __future__ import annotations

import json
import sys

from r1chat.cli.console import console
from r1chat.config import load_settings
from r1chat.errors import R1ChatError
from r1chat.paths import Paths
from r1chat.text import terminal_safe


def shown_piece(data: bytes) -> str:
    """A token's text as a quoted string (spaces, newlines and tabs visible, nothing a
    terminal would act on), or its bytes in hex when it holds part of a character."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes " + data.hex(" ")
    return terminal_safe(json.dumps(text, ensure_ascii=False))


def tokens_command(text: str, model: str | None, as_json: bool) -> None:
    """`r1chat tokens TEXT|-`."""
    from r1chat.core.events import is_remote
    from r1chat.core.models import tokenizer
    from r1chat.models.discovery import choose_model, model_name

    if text == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as error:
            raise R1ChatError("Standard input is not UTF-8 text.") from error
    paths = Paths.from_env()
    settings = load_settings(paths)
    if model and is_remote(model):
        raise R1ChatError(
            "`tokens` needs a local GGUF model: a remote server's tokenizer is not here."
        )
    path = choose_model(settings, paths, model).path
    engine = tokenizer(path, paths, settings, model_name(path, paths, settings))
    try:
        pieces = engine.pieces(text)
        name = engine.name
    finally:
        engine.close()
    special = sum(piece.special for piece in pieces)
    if as_json:
        document = {
            "model": name,
            "count": len(pieces),
            "special": special,
            "tokens": [
                {
                    "id": piece.id,
                    "piece": piece.data.decode("utf-8", errors="replace"),
                    "special": piece.special,
                }
                for piece in pieces
            ],
        }
        print(json.dumps(document, ensure_ascii=True, indent=2))
        return
    from rich.text import Text

    out = console()
    width = max([2, *(len(str(piece.id)) for piece in pieces)])
    for piece in pieces:
        line = Text(f"{piece.id:>{width}}  ", style="dim")
        line.append(shown_piece(piece.data), style="bold" if piece.special else "")
        if piece.special:
            line.append("  special", style="cyan")
        out.print(line, no_wrap=True, crop=False, overflow="ignore")
    words = f"{len(pieces):,} tokens" + (f", {special} special" if special else "")
    out.print(Text(f"{words} ({terminal_safe(name)}).", style="bold"))
