"""Provides `KeysFooter`: Textual's footer, rebuilt only when the keys it shows change.

Textual's `Footer` removes and mounts all its keys again after every bindings refresh,
and Textual refreshes the bindings on each focus change, each screen change and each
reactive that affects them: five rebuilds of ~30 ms each at start-up (while the model
loads beside them), and one more whenever focus moves. Here a rebuild first compares
what it would show with what is shown, and does nothing when they are the same.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


class KeysFooter(Footer):
    """The chat screen's footer of keys (see the module's docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[Any, ...] | None = None
        """What the keys showed at the last rebuild: the shown bindings as the user sees
        them, and the footer's own settings."""

    def _keys(self) -> tuple[Any, ...]:
        """The bindings the footer shows (and the palette's), as the user sees them."""
        app = self.app
        palette = app.COMMAND_PALETTE_BINDING
        bindings = tuple(
            (binding, enabled, tooltip, app.get_key_display(binding))
            for key, (_node, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == palette
        )
        return (bindings, self.compact, self.show_command_palette)

    async def recompose(self) -> None:
        """Rebuild the keys, unless they would come out as they are now."""
        if not self.is_attached:
            return
        shown = self._keys()
        if shown == self._shown and self.children:
            return
        self._shown = shown
        await super().recompose()
