"""Start-up: what `r1chat` loads before its first screen.

The first screen waits for every module imported on the way to it, so code only some
screens need (plots, Markdown, code highlighting) loads when they open, and the plain
`r1chat` launch neither imports the command line parser's libraries (typer, click) nor
builds the parser (typer's coercion of each option imports pydantic: ~0.2 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

_LAUNCH = """
import json, sys
import r1chat.cli
import r1chat.cli.app

calls = []
r1chat.cli.app.run_app = lambda **options: calls.append(options)
if sys.argv[1] == "plain":
    r1chat.cli.main([])
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("typer", "click"))
else:  # the same launch through the parser
    import typer.main
    from r1chat.cli.commands import app

    built = []
    get_command = typer.main.get_command
    typer.main.get_command = lambda typer_app: built.append(1) or get_command(typer_app)
    app(args=[], prog_name="r1chat", standalone_mode=False)
    loaded = ["the parser"] if built else []
print(json.dumps({"calls": calls, "loaded": loaded}))
"""


def _launch(kind: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCH, kind], capture_output=True, text=True, check=True
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_plain_r1chat_opens_the_app_as_the_parser_would_without_loading_it():
    plain, parsed = _launch("plain"), _launch("parsed")
    assert len(plain["calls"]) == 1
    assert plain["calls"] == parsed["calls"]  # the same options as typer's defaults
    assert parsed["loaded"] == ["the parser"]  # the check can see the parser being built
    assert plain["loaded"] == []  # neither typer nor click imported


def test_the_app_loads_no_plot_markdown_or_highlighting_code_before_its_first_screen():
    code = (
        "import json, sys\n"
        "import typer, textual.app\n"  # what the libraries load themselves (typer 0.15
        "before = set(sys.modules)\n"  # imports rich.markdown for its help, 0.29 does not)
        "import r1chat.cli.app, r1chat.ui.app\n"
        "from r1chat.ui.keymap import places\n"
        "places()\n"  # the hints on the first screen read every screen's keys
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = set(json.loads(done.stdout))
    assert "r1chat.ui.screens.stats" in added and "r1chat.ui.screens.chat" in added
    late = {"textual_plotext", "plotext", "rich.markdown", "markdown_it", "rich.syntax"}
    assert not late & added


def test_loading_the_renderers_twice_leaves_rich_whole():
    """The worker that imports the renderers runs once per model loaded."""
    code = (
        "import rich\n"
        "from r1chat.ui.widgets.answer import load_renderers\n"
        "load_renderers(); load_renderers()\n"
        "print(rich.markdown.Markdown.__name__, rich.syntax.Syntax.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["Markdown", "Syntax"]
