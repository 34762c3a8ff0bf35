"""Provides `GrowingText`: streaming text that lays the screen out only when it needs room.

A frame of a streaming reply adds a few words to the text being written. Textual's
`Static.update` lays the whole screen out for it, and the line the text gained moves
the conversation up by one, so the frame repaints everything the conversation shows,
the saved chats beside it and the bar below. While it grows, a `GrowingText` is laid
out in steps of `ROOM_LINES` lines: a frame whose text still fits the room repaints
the text's own lines and nothing else; the screen is laid out (and the conversation
moves up a step) when the text outgrows its room, and once more when it stops growing,
which gives the unused room back.
"""

from __future__ import annotations

from typing import Any

from textual.geometry import Size
from textual.visual import VisualType
from textual.widgets import Static

from r1chat.ui.widgets.sizing import laid_out_size

ROOM_LINES = 4
"""The step, in lines, that growing text is laid out in."""


class GrowingText(Static):
    """A `Static` whose text may grow while a reply streams (see the module's docstring)."""

    virtual_size = laid_out_size()

    def __init__(self, content: VisualType = "", *, growing: bool = False, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.growing = growing
        """Whether more text may come: the height is rounded up to whole steps."""

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        height = super().get_content_height(container, viewport, width)
        if self.growing and height:
            return -(-height // ROOM_LINES) * ROOM_LINES
        return height

    def grow(self, content: VisualType) -> None:
        """Show `content`, which may grow further: the screen is laid out again only if it
        no longer fits the room laid out for it."""
        self.growing = True
        self.update(content, layout=False)
        width, room = self.content_size
        # The text's own height, which Textual keeps for the layout that may follow (that
        # layout is asked for without a repaint, which would forget it; `update` asked).
        if not width or Static.get_content_height(self, self.size, self.size, width) > room:
            self.refresh(layout=True, repaint=False)

    def settle(self, content: VisualType | None = None) -> None:
        """The text is final (`content`, if given): its height is its own again."""
        if content is not None:
            self.growing = False
            self.update(content)
        elif self.growing:
            self.growing = False
            self.refresh(layout=True)
