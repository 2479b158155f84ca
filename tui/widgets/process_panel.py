"""The training processes' own CPU and RAM (always), and their GPU memory when NVML lists them."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from core.gpu import ProcessReading
from tui.commands.common import human_bytes
from tui.widgets.text_update import set_text

HISTORY = 120


class ProcessPanel(Vertical):
    DEFAULT_CSS = """
    ProcessPanel { height: auto; border: round $secondary; padding: 0 1; }
    ProcessPanel Sparkline { height: 2; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(id="process-panel", **kw)  # type: ignore[arg-type]
        self.cpu: deque[float] = deque(maxlen=HISTORY)

    def compose(self) -> ComposeResult:
        yield Static("", id="process-fields")
        yield Sparkline([], id="process-cpu")

    def show(self, p: ProcessReading) -> None:
        self.cpu.append(p.cpu_percent or 0.0)
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
            self.query_one("#process-fields", Static),
            f"training processes: {len(p.pids)}  {cpu}  RSS {rss}  system RAM {ram}{gpu}{note}",
        )
        self.query_one("#process-cpu", Sparkline).data = list(self.cpu)
