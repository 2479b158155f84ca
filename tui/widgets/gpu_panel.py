"""One GPU's NVML fields with a short history of utilisation and memory (sparklines)."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from yolofreeze.core.monitoring.gpu import GpuReading
from yolofreeze.tui.format import human_bytes
from yolofreeze.tui.widgets.lite_sparkline import LiteSparkline
from yolofreeze.tui.widgets.text_update import set_text

HISTORY = 120  # samples: one minute at 2 Hz


def na(value: float | int | None, fmt: str = "{:.0f}", unit: str = "") -> str:
    return "N/A" if value is None else fmt.format(value) + unit


class GpuPanel(Vertical):
    DEFAULT_CSS = """
    GpuPanel { height: auto; border: round $primary; padding: 0 1; }
    GpuPanel .gpu-title { text-style: bold; }
    GpuPanel Sparkline { height: 3; }  /* the label, then two lines of bars */
    """

    def __init__(self, index: int, **kw: object) -> None:
        super().__init__(id=f"gpu-{index}", **kw)  # type: ignore[arg-type]
        self.util: deque[float] = deque(maxlen=HISTORY)
        self.mem: deque[float] = deque(maxlen=HISTORY)
        self.latest: GpuReading | None = None
        self.history_changed = False
        self._ready = False  # set once mounted: samples can arrive before

    def compose(self) -> ComposeResult:
        yield Static("", classes="gpu-title")
        yield Static("", classes="gpu-fields")
        # Each label is drawn by its sparkline: fewer widgets, cheaper screen updates.
        yield LiteSparkline([], label="utilisation", classes="gpu-util")
        yield LiteSparkline([], label="memory used (NVML)", classes="gpu-mem")

    def on_mount(self) -> None:
        self._title = self.query_one(".gpu-title", Static)
        self._fields = self.query_one(".gpu-fields", Static)
        self._util_line = self.query_one(".gpu-util", Sparkline)
        self._mem_line = self.query_one(".gpu-mem", Sparkline)
        self._ready = True
        self.show()

    def record(self, g: GpuReading) -> None:
        """Keep a sample (history and newest reading) without drawing anything."""
        self.util.append(g.util_gpu or 0.0)
        self.mem.append(float(g.mem_used or 0))
        self.latest = g
        self.history_changed = True

    def show(self, g: GpuReading | None = None, history: bool = True) -> None:
        """Record ``g`` if given, then draw the newest reading and, unless ``history`` is False,
        the sparklines (see ``show_history``)."""
        if g is not None:
            self.record(g)
        if not self._ready or self.latest is None:
            return
        self._render_reading(self.latest)
        if history:
            self.show_history()

    def show_history(self) -> None:
        """Push the samples recorded since the last call to the sparklines (nothing when none were)."""
        if not self.history_changed or not self._ready:
            return
        self.history_changed = False
        self._util_line.data = list(self.util)
        self._mem_line.data = list(self.mem)

    def _render_reading(self, g: GpuReading) -> None:
        cuda = f" (cuda:{g.cuda_index} for this run)" if g.cuda_index is not None else ""
        set_text(self._title, f"GPU {g.index}: {g.name}{cuda}")
        mem = (
            f"{human_bytes(g.mem_used)} / {human_bytes(g.mem_total)}"
            if g.mem_used is not None and g.mem_total
            else "N/A"
        )
        run = human_bytes(g.run_mem) if g.run_mem is not None else "N/A"
        power = f"{na(g.power, '{:.0f}', ' W')} / {na(g.power_limit, '{:.0f}', ' W')}"
        set_text(
            self._fields,
            f"util {na(g.util_gpu, unit='%')}  mem-util {na(g.util_mem, unit='%')}  NVML used {mem}\n"
            f"this run's processes {run}  temp {na(g.temperature, unit='°C')}  power {power}  "
            f"SM {na(g.sm_clock, unit=' MHz')}  fan {na(g.fan, unit='%')}",
        )
