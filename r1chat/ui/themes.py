"""Provides theme loading: the bundled TOML themes and any in the user's config folder."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from textual.theme import Theme

DEFAULT_THEME = "r1-dark"
APP_VARIABLES = {
    "reasoning-foreground": "#8a8f9c",
    "user-message-background": "#8080802a",
}
"""Variables r1chat's stylesheet uses, with defaults for themes that do not set them."""

_THEME_FIELDS = {f.name for f in fields(Theme)} - {"name", "variables"}


@dataclass(frozen=True, slots=True)
class ThemeProblem:
    """A theme file that could not be used, and why (one sentence)."""

    path: Path
    reason: str


THEME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}")
"""Theme names show in Textual's own theme picker, which reads them as markup: plain only."""


def bundled_themes_dir() -> Path:
    """Where the bundled themes are: inside the wheel, or `themes/` of a source checkout."""
    packaged = Path(__file__).resolve().parent.parent / "_themes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "themes"


def theme_from_file(path: Path) -> Theme:
    """Read one theme file.

    Raises:
        ValueError: with a sentence saying what is wrong with the file.
    """
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read it ({error})") from error
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"it is not valid TOML ({error})") from error
    name = data.pop("name", None)
    if not isinstance(name, str) or not name.strip():
        raise ValueError("it has no name")
    if not THEME_NAME.fullmatch(name.strip()):
        raise ValueError(
            "its name may only use letters, digits, spaces, '.', '_' and '-' (at most 40)"
        )
    if "primary" not in data:
        raise ValueError("it has no primary colour")
    variables = data.pop("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise ValueError("its [variables] must map names to colour strings")
    unknown = set(data) - _THEME_FIELDS
    if unknown:
        raise ValueError(f"unknown setting {sorted(unknown)[0]!r}")
    theme = Theme(name=name.strip(), variables=dict(variables), **data)
    try:
        theme.to_color_system()  # parses every colour now, not when the theme is chosen
    except Exception as error:
        raise ValueError(f"a colour is invalid ({error})") from error
    return theme


def load_themes(*folders: Path) -> tuple[list[Theme], list[ThemeProblem]]:
    """Every `*.toml` theme in `folders` (later folders win on equal names), and the failures."""
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = theme_from_file(path)
            except ValueError as error:
                problems.append(ThemeProblem(path, str(error)))
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
