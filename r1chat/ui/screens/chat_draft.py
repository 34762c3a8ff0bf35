"""Provides `DraftActions`: the draft in the message box written in the user's own editor
(`$VISUAL`, `$EDITOR`), cleared in one key, and a word after a long paste."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from textual import on
from textual.app import SuspendNotSupported

from r1chat.files import private_dir
from r1chat.ui.screens.chat_base import ChatScreenBase
from r1chat.ui.widgets.composer import Composer


def editor_command(environ: dict[str, str] | None = None) -> list[str] | None:
    """The user's editor as a command (`$VISUAL`, then `$EDITOR`, then vi or nano if
    installed); `None` when there is none."""
    env = os.environ if environ is None else environ
    for name in ("VISUAL", "EDITOR"):
        value = env.get(name, "").strip()
        if value:
            try:
                return shlex.split(value)
            except ValueError:
                continue
    for fallback in ("vi", "nano"):
        if shutil.which(fallback):
            return [fallback]
    return None


class DraftActions(ChatScreenBase):
    """The message box's draft: in the user's editor, cleared, and long pastes."""

    def action_edit_in_editor(self) -> None:
        """Open the draft in the user's editor; what they save comes back into the box."""
        command = editor_command()
        if command is None:
            self.notify(
                "No editor found: set $EDITOR (for example `export EDITOR=nano`).",
                severity="warning",
            )
            return
        folder = self.r1app.paths.cache_dir / "drafts"
        try:
            private_dir(folder)
            handle, name = tempfile.mkstemp(prefix="draft-", suffix=".md", dir=folder)
            path = Path(name)
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(self.composer.text)
        except OSError as error:
            self.notify(f"Cannot write the draft for the editor ({error}).", severity="error")
            return
        try:
            ran = self._run_editor([*command, str(path)])
            if ran is None:
                return
            if ran != 0:
                self.notify(
                    f"The editor ({command[0]}) ended with status {ran}; the draft is as it was.",
                    severity="warning",
                )
                return
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            self.notify(f"Cannot read the draft back ({error}).", severity="error")
            return
        finally:
            path.unlink(missing_ok=True)
        if text.endswith("\n") and not self.composer.text.endswith("\n"):
            text = text[:-1]  # editors end a file with a newline the draft did not have
        if text != self.composer.text:
            self.composer.replace(text, (0, 0), self.composer.document.end)  # Ctrl+Z undoes
        self.composer.move_cursor(self.composer.document.end)
        self.composer.focus()
        self.refresh()

    def _run_editor(self, command: list[str]) -> int | None:
        """Run `command` with the terminal handed over to it; its exit status (`None`:
        it could not run)."""
        try:
            try:
                with self.app.suspend():
                    return subprocess.run(command, check=False).returncode
            except SuspendNotSupported:
                if not self.app.is_headless:
                    self.notify(
                        "This terminal cannot be handed over to an editor.", severity="error"
                    )
                    return None
            # No terminal at all: an editor that needs none (a script) runs as it is.
            return subprocess.run(command, check=False, stdin=subprocess.DEVNULL).returncode
        except OSError as error:
            self.notify(
                f"Cannot start the editor {command[0]!r} ({error.strerror}).", severity="error"
            )
            return None

    def action_clear_draft(self) -> None:
        """Empty the message box (Ctrl+Z brings the text back)."""
        if not self.composer.text:
            return
        lines = self.composer.document.line_count
        self.composer.clear()
        self.composer.focus()
        self.notify(f"Cleared {lines:,} line{'s' if lines != 1 else ''}; Ctrl+Z brings them back.")

    @on(Composer.LongPaste)
    def _long_paste(self, event: Composer.LongPaste) -> None:
        self.notify(
            f"Pasted {event.lines:,} lines: {self.key('chat.clear_draft')} clears the message "
            f"box (Ctrl+Z undoes), {self.key('chat.editor')} opens it in your editor.",
            timeout=8,
        )
