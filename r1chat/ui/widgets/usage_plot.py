"""Provides `UsagePlot`: a plotext plot for the usage screen, drawn at the size it has.

Its own module, so plotext is imported when the usage screen opens, not at start-up."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import RenderResult
from textual_plotext import Plot, PlotextPlot


class UsagePlot(PlotextPlot):
    """A plot drawn from its data each time it renders, at the size it renders at (plotext
    lays bars out for the size it has when they are added)."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.painter: Callable[[Plot], None] | None = None

    def paint(self, painter: Callable[[Plot], None]) -> None:
        """Draw with `painter` from now on."""
        self.painter = painter
        self.refresh()

    def render(self) -> RenderResult:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.plotsize(self.size.width, self.size.height)
        if self.painter is not None:
            self.painter(plt)
        return super().render()
