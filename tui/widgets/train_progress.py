"""Epoch and batch progress with the ETA core.runs computes from the runner's progress record."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from core.runs import Progress
from tui.widgets.text_update import set_text


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class TrainProgress(Vertical):
    DEFAULT_CSS = """
    TrainProgress { height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first batch …", id="progress-text")
        yield ProgressBar(total=1.0, show_eta=False, id="progress-bar")

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
        set_text(self.query_one("#progress-text", Static), text)
        self.query_one("#progress-bar", ProgressBar).update(total=1.0, progress=p.fraction)
