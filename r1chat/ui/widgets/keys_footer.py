"""Provides `KeysFooter`: Textual's footer, rebuilt only when the keys it shows change.

Textual's `Footer` removes and mounts all its keys again after every bindings refresh,
and Textual refreshes the bindings on each focus change, each screen change and each
reactive that affects them: five rebuilds of ~30 ms each at start-up (while the model
loads beside them), and two for every reply, which dims Regenerate and Chat settings at
its start and lights them again at its end. Here a refresh first compares what the
footer would show with what it shows: the same keys leave it as it is, the same keys
with some dimmed or lit are restyled where they stand, and only other keys rebuild it.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeysFooter(Footer):
    """The chat screen's footer of keys (see the module's docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[Any, ...] | None = None
        """What the keys showed at the last refresh: the shown bindings as the user sees
        them, whether each is enabled, and the footer's own settings."""

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

    @staticmethod
    def _layout(shown: tuple[Any, ...]) -> tuple[Any, ...]:
        """What `shown` lays out: all of it but whether each key is enabled."""
        bindings, *settings = shown
        return (tuple((binding, tip, display) for binding, _, tip, display in bindings), *settings)

    def _restyle(self, shown: tuple[Any, ...]) -> None:
        """Dim or light the keys in place: the footer shows the first binding of each
        action, so that binding's state is the key's."""
        enabled: dict[str, bool] = {}
        for binding, on, _tip, _display in shown[0]:
            enabled.setdefault(binding.action, on)
        for key in self.query(FooterKey):
            off = not enabled.get(key.action, True)
            key.set_class(off, "-disabled")
            # A click on a dimmed key rings the bell instead of pressing it.
            key._disabled = off

    async def recompose(self) -> None:
        """Rebuild the keys, unless they would come out as they are now."""
        if not self.is_attached:
            return
        shown = self._keys()
        before, self._shown = self._shown, shown
        if before is not None and self.children:
            if shown == before:
                return
            if self._layout(shown) == self._layout(before):
                self._restyle(shown)
                return
        await super().recompose()
