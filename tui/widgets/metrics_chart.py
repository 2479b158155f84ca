"""Loss and mAP curves from results.csv, one sparkline per series with its newest value."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from tui.widgets.text_update import set_text

SERIES = (
    ("train/box_loss", "box loss"),
    ("train/obj_loss", "obj loss"),
    ("train/cls_loss", "cls loss"),
    ("metrics/mAP_0.5", "mAP@0.5"),
    ("metrics/mAP_0.5:0.95", "mAP@0.5:0.95"),
)


class MetricsChart(Vertical):
    DEFAULT_CSS = """
    MetricsChart { height: auto; border: round $accent; padding: 0 1; }
    MetricsChart Sparkline { height: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("results.csv: no epoch finished yet", id="metrics-head")
        for key, _ in SERIES:
            yield Static("", id=f"label-{_slug(key)}")
            yield Sparkline([], id=f"spark-{_slug(key)}")

    def show(self, head: list[str], rows: list[list[float]]) -> None:
        if not rows:
            return
        set_text(self.query_one("#metrics-head", Static), f"results.csv: {len(rows)} epoch(s)")
        for key, label in SERIES:
            if key not in head:
                continue
            i = head.index(key)
            values = [r[i] for r in rows if i < len(r)]
            self.query_one(f"#label-{_slug(key)}", Static).update(f"{label}: {values[-1]:.4f}")
            self.query_one(f"#spark-{_slug(key)}", Sparkline).data = values


def _slug(key: str) -> str:
    return key.replace("/", "-").replace(".", "").replace(":", "-").replace("_", "-").lower()
