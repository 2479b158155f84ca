"""One GPU's NVML fields with a short history of utilisation and memory (sparklines)."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from core.gpu import GpuReading
from tui.commands.common import human_bytes
from tui.widgets.text_update import set_text

HISTORY = 120  # samples: one minute at 2 Hz


def na(value: float | int | None, fmt: str = "{:.0f}", unit: str = "") -> str:
    return "N/A" if value is None else fmt.format(value) + unit


class GpuPanel(Vertical):
    DEFAULT_CSS = """
    GpuPanel { height: auto; border: round $primary; padding: 0 1; }
    GpuPanel .gpu-title { text-style: bold; }
    GpuPanel Sparkline { height: 2; }
    """

    def __init__(self, index: int, **kw: object) -> None:
        super().__init__(id=f"gpu-{index}", **kw)  # type: ignore[arg-type]
        self.util: deque[float] = deque(maxlen=HISTORY)
        self.mem: deque[float] = deque(maxlen=HISTORY)
        self.pending: GpuReading | None = None

    def compose(self) -> ComposeResult:
        yield Static("", classes="gpu-title")
        yield Static("", classes="gpu-fields")
        yield Static("utilisation", classes="dim")
        yield Sparkline([], classes="gpu-util")
        yield Static("memory used (NVML)", classes="dim")
        yield Sparkline([], classes="gpu-mem")

    def on_mount(self) -> None:
        if self.pending is not None:
            self._render_reading(self.pending)

    def show(self, g: GpuReading) -> None:
        self.util.append(g.util_gpu or 0.0)
        self.mem.append(float(g.mem_used or 0))
        if not self.children:  # samples can arrive before the panel has composed
            self.pending = g
            return
        self._render_reading(g)

    def _render_reading(self, g: GpuReading) -> None:
        cuda = f" (cuda:{g.cuda_index} for this run)" if g.cuda_index is not None else ""
        set_text(self.query_one(".gpu-title", Static), f"GPU {g.index}: {g.name}{cuda}")
        mem = (
            f"{human_bytes(g.mem_used)} / {human_bytes(g.mem_total)}"
            if g.mem_used is not None and g.mem_total
            else "N/A"
        )
        run = human_bytes(g.run_mem) if g.run_mem is not None else "N/A"
        power = f"{na(g.power, '{:.0f}', ' W')} / {na(g.power_limit, '{:.0f}', ' W')}"
        set_text(
            self.query_one(".gpu-fields", Static),
            f"util {na(g.util_gpu, unit='%')}  mem-util {na(g.util_mem, unit='%')}  NVML used {mem}\n"
            f"this run's processes {run}  temp {na(g.temperature, unit='°C')}  power {power}  "
            f"SM {na(g.sm_clock, unit=' MHz')}  fan {na(g.fan, unit='%')}",
        )
        self.query_one(".gpu-util", Sparkline).data = list(self.util)
        self.query_one(".gpu-mem", Sparkline).data = list(self.mem)
