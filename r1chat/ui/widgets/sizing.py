"""Provides `laid_out_size`: a widget's virtual size that does not ask for a second layout.

Textual sets a widget's virtual size while it lays the screen out, and the reactive it
sets asks for another layout of the whole screen, which then finds nothing to move and
redraws the widget a second time. Every frame of a streaming reply resizes the reply,
its answer, the block being written and the conversation, so each frame was laid out
and drawn twice: ~40% of the UI thread's time while a local model streams. A widget
whose virtual size only ever comes from layout declares it with `laid_out_size()`.
Scrollable ones keep their scroll bars right, since Textual updates those directly.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive


def laid_out_size() -> Reactive[Size]:
    """A `virtual_size` reactive for a widget that never sets its virtual size itself."""
    return Reactive(Size(0, 0), layout=False, repaint=False)
