"""Per-epoch metrics from results.csv, newest epoch first: what a large terminal has room for."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

# (results.csv column, heading); yolov5 writes these for every detection run
COLUMNS = (
    ("epoch", "epoch"),
    ("train/box_loss", "box"),
    ("train/obj_loss", "obj"),
    ("train/cls_loss", "cls"),
    ("metrics/precision", "P"),
    ("metrics/recall", "R"),
    ("metrics/mAP_0.5", "mAP50"),
    ("metrics/mAP_0.5:0.95", "mAP50-95"),
    ("val/box_loss", "val box"),
)


class EpochTable(DataTable[Text]):
    DEFAULT_CSS = """
    EpochTable { height: 1fr; border: round $accent; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, **kw)  # type: ignore[arg-type]
        self.border_title = "per epoch (results.csv)"
        self._shown: list[list[float]] = []

    def on_mount(self) -> None:
        self.add_columns(*(heading for _, heading in COLUMNS))

    def show(self, head: list[str], rows: list[list[float]]) -> None:
        if rows == self._shown:
            return
        self._shown = rows
        index = {name: i for i, name in enumerate(head)}
        self.clear()
        for row in reversed(rows):
            cells = []
            for name, _ in COLUMNS:
                i = index.get(name)
                if i is None or i >= len(row):
                    cells.append(Text("-"))
                elif name == "epoch":
                    cells.append(Text(str(int(row[i]) + 1), justify="right"))  # yolov5 counts from 0
                else:
                    cells.append(Text(f"{row[i]:.4f}", justify="right"))
            self.add_row(*cells)
