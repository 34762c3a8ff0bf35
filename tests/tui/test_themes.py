"""Bundled and user themes load as Textual themes; a broken file is reported and skipped."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.theme import Theme

from r1chat.ui.themes import APP_VARIABLES, bundled_themes_dir, load_themes, theme_from_file
from tests.tui_helpers import make_app, wait_until

BUNDLED = sorted(bundled_themes_dir().glob("*.toml"))


def test_the_three_bundled_themes_are_there():
    assert {path.stem for path in BUNDLED} >= {"r1-dark", "r1-light", "r1-high-contrast"}


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_each_bundled_theme_loads_with_r1chat_variables(path: Path):
    theme = theme_from_file(path)
    assert isinstance(theme, Theme) and theme.name == path.stem
    assert set(APP_VARIABLES) <= set(theme.variables)
    assert theme.to_color_system() is not None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("name = 'x'\nprimary = 'not a colour'\n", "a colour is invalid"),
        ("primary = '#ffffff'\n", "it has no name"),
        ("name = 'x'\n", "it has no primary colour"),
        ("name = 'x'\nprimary = '#fff'\nsparkle = true\n", "unknown setting 'sparkle'"),
        ("name = = 'x'\n", "it is not valid TOML"),
    ],
)
def test_broken_theme_files_are_skipped_with_a_reason(tmp_path, content, reason):
    (tmp_path / "bad.toml").write_text(content)
    (tmp_path / "good.toml").write_text("name = 'mine'\nprimary = '#ff8800'\n")
    themes, problems = load_themes(tmp_path)
    assert [t.name for t in themes] == ["mine"]
    assert [p.path.name for p in problems] == ["bad.toml"] and reason in problems[0].reason


async def test_user_themes_are_offered_and_broken_ones_reported(tmp_path):
    folder = tmp_path / "config" / "themes"
    folder.mkdir(parents=True)
    (folder / "sunset.toml").write_text("name = 'sunset'\nprimary = '#ff6b35'\ndark = true\n")
    (folder / "broken.toml").write_text("name = 'broken'\nprimary = 'rainbow'\n")
    config = tmp_path / "config" / "config.toml"
    config.write_text(
        "# my settings\n[ui]\ntheme = 'sunset'  # warm colours\nthinking = 'expanded'\n\n"
        '[keymap]\n# keys I like\n"chat.regenerate" = "ctrl+r"\n'
    )
    app, _, store = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.theme == "sunset")
        assert "r1-dark" in app.available_themes and "broken" not in app.available_themes
        assert any("broken.toml" in str(n.message) for n in app._notifications)
        app.theme = "r1-light"
        await pilot.pause()
    # What matters is the value read back and the user's own lines kept, not the quoting
    # (tomlkit keeps or changes a string's quote style from one release to the next).
    text = config.read_text()
    saved = tomllib.loads(text)
    assert saved["ui"]["theme"] == "r1-light"
    assert saved["ui"]["thinking"] == "expanded"
    assert saved["keymap"] == {"chat.regenerate": "ctrl+r"}
    assert "# my settings" in text and "# keys I like" in text
    store.close()


def test_the_wheel_ships_the_themes():
    from r1chat.ui import themes

    # In a wheel they sit at r1chat/_themes; pyproject maps the top-level themes/ there.
    pyproject = (Path(themes.__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"themes" = "r1chat/_themes"' in pyproject
