"""The comparison on screen: the table (one column per plan) and overlaid per-epoch curves.

Everything shown comes from ``core.compare`` (``gather`` then ``compare``): the screen formats,
never computes. It rereads the runs every few seconds while any of them is still going, so a
queue's table and curves fill in as it trains. ``c`` switches the curve (mAP50, mAP50-95, train
loss). Labels come from folder names and run records: they are plain Text, never markup.

Opened for now by ``yolofreeze-tui compare … --tui``; the runs screen and the launch form can
push ``CompareScreen(items)`` the same way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Static

from yolofreeze.core.compare.summary import RunSummary
from yolofreeze.core.compare.table import Comparison
from yolofreeze.core.errors import YoloFreezeError

PLAN_COLOURS = ("cyan", "magenta", "yellow", "green", "red", "blue", "bright_white", "bright_cyan")
MARKERS = "●■▲◆✚✖★◼"
CURVES = (("mAP50", "mAP50"), ("mAP50-95", "mAP50-95"), ("train loss (box+obj+cls)", "loss"))
LIVE = ("starting", "running", "paused", "pending")


def curve_values(s: RunSummary, key: str) -> list[float]:
    if key != "loss":
        return list(s.curves.get(key, ()))
    parts = [s.curves.get(k, ()) for k in ("box_loss", "obj_loss", "cls_loss")]
    n = min((len(p) for p in parts), default=0)
    return [sum(p[i] for p in parts) for i in range(n)]


class CurvesChart(Widget):
    """Every plan's curve on one shared scale: a marker per plan, a line of legend at the top."""

    DEFAULT_CSS = "CurvesChart { height: 1fr; min-height: 6; border: round $accent; }"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.title = ""
        self.series: list[tuple[str, list[float]]] = []

    def show(self, title: str, series: list[tuple[str, list[float]]]) -> None:
        self.title, self.series = title, series
        self.border_title = title
        self.refresh()

    def plotted_cells(self) -> int:
        """How many marks the last render drew (for tests: curves visible, not just a legend)."""
        return getattr(self, "_marks", 0)

    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        out = Text(no_wrap=True, overflow="crop")
        for i, (label, _) in enumerate(self.series):
            out.append(f"{MARKERS[i % len(MARKERS)]} ", style=PLAN_COLOURS[i % len(PLAN_COLOURS)])
            out.append(label + "  ")
        values = [v for _, ys in self.series for v in ys if math.isfinite(v)]
        rows = height - 2  # legend line, axis line
        axis = 9
        plot_w = width - axis
        if not values or rows < 2 or plot_w < 4:
            out.append("\nno epoch finished yet" if not values else "")
            self._marks = 0
            return out
        lo, hi = min(values), max(values)
        span = hi - lo or abs(hi) or 1.0
        epochs = max(len(ys) for _, ys in self.series)
        grid: list[list[tuple[str, str | None]]] = [[(" ", None)] * plot_w for _ in range(rows)]
        marks = 0
        for i, (_, ys) in enumerate(self.series):
            for e, v in enumerate(ys):
                if not math.isfinite(v):
                    continue
                x = round(e * (plot_w - 1) / max(epochs - 1, 1))
                y = rows - 1 - round((v - lo) / span * (rows - 1))
                grid[y][x] = (MARKERS[i % len(MARKERS)], PLAN_COLOURS[i % len(PLAN_COLOURS)])
                marks += 1
        self._marks = marks
        for r, row in enumerate(grid):
            out.append("\n")
            tick = hi if r == 0 else lo if r == rows - 1 else None
            out.append(f"{tick:>8.4g}│" if tick is not None else " " * 8 + "│", style="dim")
            for ch, colour in row:
                out.append(ch, style=colour or "")
        out.append("\n" + " " * 8 + "└" + f" epoch 0 … {epochs - 1}".ljust(plot_w, "─")[:plot_w], style="dim")
        return out


class ComparisonLoaded(Message):
    def __init__(self, comparison: Comparison | None, problem: str = "") -> None:
        super().__init__()
        self.comparison = comparison
        self.problem = problem


class CompareScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "leave", "Back"),
        Binding("c", "next_curve", "Curve"),
        Binding("r", "refresh", "Refresh"),
    ]
    DEFAULT_CSS = """
    CompareScreen #compare-title { height: 1; }
    CompareScreen #compare-table { height: 1fr; min-height: 5; }
    CompareScreen #compare-verdict { height: auto; max-height: 4; color: $text-muted; }
    """

    def __init__(self, items: list[str], weights: str | None = None, state: Path | None = None) -> None:
        super().__init__()
        self.items = items
        self.weights = weights
        self.state = state
        self.comparison: Comparison | None = None
        self.curve = 0

    def compose(self) -> ComposeResult:
        yield Static("reading the runs …", id="compare-title")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        yield CurvesChart(id="compare-curves")
        yield Static("", id="compare-verdict")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()
        self.set_interval(5.0, self._tick)

    def _tick(self) -> None:
        c = self.comparison
        if c is not None and any(s.state in LIVE for s in c.summaries):
            self.action_refresh()

    def action_refresh(self) -> None:
        self.load()

    def action_leave(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()

    def action_next_curve(self) -> None:
        self.curve = (self.curve + 1) % len(CURVES)
        self._show_curve()

    @work(thread=True, exclusive=True, group="compare-read", description="reading the compared runs")
    def load(self) -> None:
        from yolofreeze.core.compare.sources import gather
        from yolofreeze.core.compare.table import compare

        try:
            self.post_message(ComparisonLoaded(compare(gather(self.items, self.weights, self.state))))
        except YoloFreezeError as e:
            self.post_message(ComparisonLoaded(None, e.message))

    @on(ComparisonLoaded)
    def _loaded(self, event: ComparisonLoaded) -> None:
        title = self.query_one("#compare-title", Static)
        if event.comparison is None:
            title.update(Text(f"cannot compare: {event.problem}", style="bold red"))
            return
        self.comparison = c = event.comparison
        live = sum(1 for s in c.summaries if s.state in LIVE)
        title.update(
            Text(
                f"{len(c.summaries)} runs compared against {c.summaries[0].label}"
                + (f"; {live} still going" if live else "")
            )
        )
        table = self.query_one("#compare-table", DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        # an explicit width: a blank-headed auto-width column is drawn 0 wide after clear(columns=True)
        table.add_column("", key="metric", width=max(len(h) for h in c.headers[1:]))
        for i, s in enumerate(c.summaries):
            table.add_column(Text(s.label, style=PLAN_COLOURS[i % len(PLAN_COLOURS)]), key=f"plan-{i}")
        for r, head in enumerate(c.headers[1:], start=1):
            table.add_row(Text(head), *(Text(cells[r]) for cells in c.cells))
        if 0 <= row < table.row_count:
            table.move_cursor(row=row)
        self.query_one("#compare-verdict", Static).update(Text("\n".join(c.verdicts)))
        self._show_curve()

    def _show_curve(self) -> None:
        if self.comparison is None:
            return
        title, key = CURVES[self.curve]
        series = [(s.label, curve_values(s, key)) for s in self.comparison.summaries]
        self.query_one(CurvesChart).show(f"{title} per epoch (c: next curve)", series)


class CompareApp(App[None]):
    TITLE = "yolofreeze-tui compare"

    def __init__(self, items: list[str], weights: str | None = None, state: Path | None = None) -> None:
        super().__init__()
        self.items, self.weights, self.state = items, weights, state

    def on_mount(self) -> None:
        self.push_screen(CompareScreen(self.items, self.weights, self.state))


def make_compare_app(items: list[str], weights: str | None = None, state: Path | None = None) -> CompareApp:
    return CompareApp(items, weights, state)


def run_compare_app(items: list[str], weights: str | None = None) -> None:
    make_compare_app(items, weights).run()
