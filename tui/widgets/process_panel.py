"""The training processes' own CPU and RAM (always), and their GPU memory when NVML lists them."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from yolofreeze.core.monitoring.gpu import ProcessReading
from yolofreeze.tui.format import human_bytes
from yolofreeze.tui.widgets.lite_sparkline import LiteSparkline
from yolofreeze.tui.widgets.text_update import set_text

HISTORY = 120


class ProcessPanel(Vertical):
    DEFAULT_CSS = """
    ProcessPanel { height: auto; border: round $secondary; padding: 0 1; }
    ProcessPanel Sparkline { height: 2; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(id="process-panel", **kw)  # type: ignore[arg-type]
        self.cpu: deque[float] = deque(maxlen=HISTORY)
        self.history_changed = False
        self.latest: ProcessReading | None = None
        self._ready = False  # set once mounted: samples can arrive before

    def compose(self) -> ComposeResult:
        yield Static("", id="process-fields")
        yield LiteSparkline([], id="process-cpu")

    def on_mount(self) -> None:
        self._fields = self.query_one("#process-fields", Static)
        self._cpu_line = self.query_one("#process-cpu", Sparkline)
        self._ready = True
        self.show()

    def record(self, p: ProcessReading) -> None:
        """Keep a sample (history and newest reading) without drawing anything."""
        self.latest = p
        if p.cpu_percent is not None:  # N/A (no process left) is not 0%: keep it out of the history
            self.cpu.append(p.cpu_percent)
            self.history_changed = True

    def show(self, p: ProcessReading | None = None, history: bool = True) -> None:
        """Record ``p`` if given, then draw the newest reading and, unless ``history`` is False,
        the sparkline (see ``show_history``)."""
        if p is not None:
            self.record(p)
        p = self.latest
        if p is None or not self._ready:
            return
        cpu = f"{p.cpu_percent:.0f}% CPU (100% = one core)" if p.cpu_percent is not None else "CPU N/A"
        rss = human_bytes(p.rss) if p.rss is not None else "N/A"
        ram = (
            f"{human_bytes(p.ram_used)} / {human_bytes(p.ram_total)}"
            if p.ram_used is not None and p.ram_total
            else "N/A"
        )
        gpu = f"  GPU memory (NVML, this run) {human_bytes(p.gpu_mem)}" if p.gpu_mem is not None else ""
        note = f"\n{p.note}" if p.note else ""
        set_text(
            self._fields,
            f"training processes: {len(p.pids)}  {cpu}  RSS {rss}  system RAM {ram}{gpu}{note}",
        )
        if history:
            self.show_history()

    def show_history(self) -> None:
        """Push the samples recorded since the last call to the sparkline (nothing when none were)."""
        if not self.history_changed or not self._ready:
            return
        self.history_changed = False
        self._cpu_line.data = list(self.cpu)
