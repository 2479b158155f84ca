"""Epoch and batch progress with the ETA yolofreeze.core.training.runs computes from the runner's progress record."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.renderables.bar import Bar as BarRenderable
from textual.widget import Widget
from textual.widgets import Static

from yolofreeze.core.training.runs import Progress
from yolofreeze.tui.widgets.text_update import set_text

BAR_WIDTH = 32  # cells, as Textual's ProgressBar draws it
PERCENT_WIDTH = 5


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class ProgressLine(Widget):
    """Textual's ProgressBar (bar, then the whole percent) drawn by one widget, not three.

    Every screen update redraws the widgets sharing a parent with a changed one; the progress
    text above changes with every batch, so the bar's parts were redrawn each time.
    ``fraction`` is kept at the bar's resolution (half cells), so most batches change nothing.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"bar--bar", "bar--complete"}
    DEFAULT_CSS = f"""
    ProgressLine {{ width: {BAR_WIDTH + PERCENT_WIDTH}; height: 1; }}
    ProgressLine > .bar--bar {{ color: $primary; background: $surface; }}
    ProgressLine > .bar--complete {{ color: $success; background: $surface; }}
    """

    fraction: reactive[float] = reactive(0.0)
    percent: reactive[int] = reactive(0)

    def _validate_fraction(self, fraction: float) -> float:
        steps = BAR_WIDTH * 2
        return int(min(max(fraction, 0.0), 1.0) * steps) / steps

    def show(self, fraction: float) -> None:
        self.fraction = fraction
        self.percent = round(min(max(fraction, 0.0), 1.0) * 100)

    def render(self) -> Text:
        bar_style = self.get_component_rich_style("bar--bar" if self.fraction < 1 else "bar--complete")
        bar = BarRenderable(
            highlight_range=(0, BAR_WIDTH * self.fraction),
            highlight_style=Style.from_color(bar_style.color),
            background_style=Style.from_color(bar_style.bgcolor),
            width=BAR_WIDTH,
        )
        console = self.app.console
        text = Text(end="")
        for part in bar.__rich_console__(console, console.options.update_width(BAR_WIDTH)):
            text.append_text(part)  # type: ignore[arg-type]
        text.append(f"{self.percent}%".rjust(PERCENT_WIDTH))
        return text


class TrainProgress(Vertical):
    DEFAULT_CSS = """
    TrainProgress { height: auto; padding: 0 1; }
    """

    _text: Static | None = None  # children, looked up once
    _bar: ProgressLine

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first batch …", id="progress-text")
        yield ProgressLine(id="progress-bar")

    def show(self, p: Progress, state: str) -> None:
        if p.started is None:
            text = f"{state}: waiting for the first batch …"
        else:
            losses = "  ".join(f"{n} {v:.4f}" for n, v in zip(("box", "obj", "cls"), p.losses, strict=False))
            text = (
                f"epoch {p.epoch + 1}/{p.epochs}  batch {p.batch}/{p.batches or '?'}  "
                f"{p.fraction * 100:.1f}%  ETA {clock(p.eta_seconds()) if state == 'running' else '--:--'}"
                f"  {losses}"
            )
        if self._text is None:
            self._text = self.query_one("#progress-text", Static)
            self._bar = self.query_one("#progress-bar", ProgressLine)
        set_text(self._text, text)
        self._bar.show(p.fraction)
