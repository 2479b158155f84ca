"""Loss and mAP curves from results.csv, one sparkline per series with its newest value.

One widget draws the heading and every label and curve (line API): each screen update redraws all
widgets sharing a parent with a changed one, and eleven small widgets here made every update of
the progress line next to it cost eleven redraws.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from yolofreeze.tui.widgets.lite_sparkline import cached_style, sparkline_strips

SERIES = (
    ("train/box_loss", "box loss"),
    ("train/obj_loss", "obj loss"),
    ("train/cls_loss", "cls loss"),
    ("metrics/mAP_0.5", "mAP@0.5"),
    ("metrics/mAP_0.5:0.95", "mAP@0.5:0.95"),
)


class MetricsChart(Widget):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"sparkline--max-color", "sparkline--min-color"}
    DEFAULT_CSS = """
    MetricsChart { height: auto; border: round $accent; padding: 0 1; }
    MetricsChart > .sparkline--max-color { color: $primary; }
    MetricsChart > .sparkline--min-color { color: $primary 30%; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.head = "results.csv: no epoch finished yet"
        self.labels = {key: "" for key, _ in SERIES}
        self.values: dict[str, list[float]] = {key: [] for key, _ in SERIES}
        self._strips: list[Strip] | None = None
        self._strips_key: tuple[object, ...] | None = None
        self._styles: dict[tuple[int, int, int] | None, Style] = {}
        self.curve_rows = 1

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1 + (1 + self.curve_rows) * len(SERIES)  # the heading, then a label and a curve per series

    def set_curve_rows(self, rows: int) -> None:
        """Taller curves when the terminal has the room (the monitor's large layout)."""
        if rows != self.curve_rows:
            self.curve_rows, self._strips = rows, None
            self.refresh(layout=True)

    def show(self, head: list[str], rows: list[list[float]]) -> None:
        if not rows:
            return
        changed = False
        text = f"results.csv: {len(rows)} epoch(s)"
        if text != self.head:
            self.head, changed = text, True
        for key, label in SERIES:
            if key not in head:
                continue
            i = head.index(key)
            values = [r[i] for r in rows if i < len(r)]
            if not values:
                continue
            text = f"{label}: {values[-1]:.4f}"
            if text != self.labels[key] or values != self.values[key]:
                self.labels[key], self.values[key], changed = text, values, True
        if changed:  # results.csv rewritten with the same numbers: nothing to redraw
            self._strips = None
            self.refresh()

    def _style(self, base: Style, triplet: tuple[int, int, int] | None) -> Style:
        return cached_style(self._styles, base, triplet)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        _, background = self.background_colors
        low = (background + self.get_component_styles("sparkline--min-color").color).rich_color
        high = (background + self.get_component_styles("sparkline--max-color").color).rich_color
        base = self.visual_style.rich_style
        key = (width, low, high, base)
        if self._strips is None or key != self._strips_key:
            if key[1:] != (self._strips_key or (None,) * 4)[1:]:
                self._styles = {}
            self._strips_key = key

            def text(line: str) -> Strip:
                return Strip([Segment(line, base)]).crop_extend(0, width, base)

            strips = [text(self.head)]
            for key_, _ in SERIES:
                strips.append(text(self.labels[key_]))
                strips += sparkline_strips(self.values[key_], width, self.curve_rows, low, high, base, max, self._style)
            self._strips = strips
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, base)
