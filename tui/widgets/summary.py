"""The plan summary: counts, state bytes, --freeze arguments, the traced estimate and settings.

Everything shown comes in as core results (``PlanFigures``); this widget only lays them out,
compactly under the tree on small terminals and as a full breakdown beside it on wide ones.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from yolofreeze.core.memory.analytic import StateBytes
from yolofreeze.core.plan.freeze import Export, PlanCounts
from yolofreeze.tui.format import human_bytes, human_count, safe_text, step_time_text
from yolofreeze.tui.settings import Settings, gib_text

if TYPE_CHECKING:
    from yolofreeze.core.memory.estimator import MemoryBreakdown, MemoryEstimate

# Placeholder while the --freeze arguments are worked out just after the frame (partial plans
# need core's prefix compression, which takes a few milliseconds on large models).
PENDING_FREEZE = Export("yolov5", "", False, "")
WIDE = 52  # at this many columns the summary shows the full breakdown


@dataclass(frozen=True)
class PlanFigures:
    counts: PlanCounts
    sgd: tuple[StateBytes, StateBytes]  # (plan, no freezing)
    adam: tuple[StateBytes, StateBytes]
    freeze: Export
    settings: Settings


@dataclass(frozen=True)
class EstimateView:
    state: str  # "waiting", "estimating", "ready", "unavailable"
    estimate: MemoryEstimate | None = None
    reason: str = ""
    seconds: float = 0.0
    max_batch: int | None = None  # the largest batch that fits the GPU size; None: not (yet) known


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _saved(plan: int, base: int) -> str:
    if not base or plan == base:
        return "±0%"
    return f"−{100 * (base - plan) / base:.0f}%" if plan < base else f"+{100 * (plan - base) / base:.0f}%"  # noqa: RUF001


def _pair(plan: int, base: int, style: str = "bold") -> Text:
    """``51.9 vs 82.8 MiB -37%``: both in the unit of the larger, so the line stays short."""
    unit = human_bytes(max(plan, base)).split(" ")[1]
    div = {"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10, "B": 1}[unit]
    t = Text()
    t.append(f"{plan / div:.1f}", style)
    t.append(f" vs {base / div:.1f} {unit} ", "dim")
    t.append(_saved(plan, base), style)
    return t


def _link(text: str, action: str, style: str = "bold underline") -> Text:
    return Text(text, Style.parse(style) + Style.from_meta({"@click": action}))


class PlanSummary(Widget):
    """Always visible; ``figures`` change in the frame of a toggle, ``estimate`` when traced."""

    DEFAULT_CSS = """
    PlanSummary { height: auto; }
    """

    def __init__(self, figures: PlanFigures, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.figures = figures
        self.estimate_view = EstimateView("waiting")

    def show(self, figures: PlanFigures | None = None, estimate: EstimateView | None = None) -> None:
        if figures is not None:
            self.figures = figures
        if estimate is not None:
            self.estimate_view = estimate
        self.refresh(layout=True)

    # -- text used by tests and the compact view ---------------------------------------------

    def counts_line(self) -> Text:
        c = self.figures.counts
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("□ trainable ", "green")
        t.append(f"{human_count(c.trainable_params)} ({_pct(c.trainable_fraction)})", "bold")
        t.append("  ■ frozen ", "cyan")
        t.append(f"{human_count(c.frozen_params)} ({_pct(c.frozen_fraction)})", "bold")
        t.append(f"  of {human_count(c.total_params)} · {c.frozen_tensors}/{c.total_tensors} tensors", "dim")
        return t

    def freeze_line(self, compact: bool = False) -> Text:
        f = self.figures.freeze
        t = Text(no_wrap=compact, overflow="ellipsis")
        t.append("yolov5 ", "dim")
        if f is PENDING_FREEZE:
            t.append("…", "dim")
            return t
        # the note quotes parameter names from the file: escaped, plain Text (never markup)
        if f.text:
            t.append(safe_text(f.text.strip()), "bold")
            if f.note:
                t.append(f"  ({safe_text(f.note)})", "dim")
        else:
            t.append("no --freeze: ", "bold yellow")
            # one line under the tree: what is in the way first (the layer frozen in part)
            note = f.note.removeprefix("--freeze takes whole layers only; ") if compact else f.note
            t.append(safe_text(note))
        return t

    def state_line(self, name: str, pair: tuple[StateBytes, StateBytes]) -> Text:
        """Weights + gradients + optimizer state for the plan, against no freezing."""
        plan, base = pair
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{name} ", "dim")
        t.append_text(_pair(plan.weights_grads_optimizer, base.weights_grads_optimizer))
        return t

    def settings_text(self) -> Text:
        s = self.figures.settings
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("batch ", "dim")
        t.append_text(_link(str(s.batch), "screen.set_batch"))
        t.append(" img ", "dim")
        t.append_text(_link(str(s.img), "screen.set_img"))
        t.append(" ", "dim")
        t.append_text(_link(s.optimizer, "screen.cycle_optimizer"))
        t.append(" GPU ", "dim")
        t.append_text(_link(self.gpu_text(), "screen.set_gpu"))
        return t

    def gpu_text(self) -> str:
        s = self.figures.settings
        return f"assumed {gib_text(s.gpu_gib)} GiB" if s.gpu_assumed else f"{gib_text(s.gpu_gib)} GiB"

    def max_batch_text(self) -> str:
        """The largest batch that fits the GPU size, or "" while unknown."""
        most = self.estimate_view.max_batch
        if most is None:
            return ""
        return f"max batch {most}" if most else "not even batch 1 fits"

    def peak_line(self, with_max: bool = True) -> Text:
        """The whole run's traced figure (epoch 0, validation and training after it) against no
        freezing, and whether it fits the chosen GPU: epoch 0 fitting is not enough."""
        v = self.estimate_view
        t = Text(no_wrap=True, overflow="ellipsis")
        e = v.estimate
        whole = e is not None and e.plan_run is not None and e.baseline_run is not None
        t.append("whole run (smi) " if whole else "peak (nvidia-smi) ", "dim")  # short: room for the verdict at 80
        if e is not None:
            stale = v.state == "estimating"
            num = "dim" if stale else "bold"
            plan_smi = e.run_nvidia_smi
            base_smi = e.baseline_run.nvidia_smi if e.baseline_run is not None else e.baseline.nvidia_smi
            t.append_text(_pair(plan_smi, base_smi, num))
            s = self.figures.settings
            # stale: greyed, so no red verdict of the old batch sits next to a new one
            if plan_smi <= s.gpu_bytes:
                ok = "yellow" if s.gpu_assumed else "bold green"  # "fits" a size nobody measured
                t.append(f"  ✓ fits {self.gpu_text()}", "dim" if stale else ok)
            else:
                t.append(f"  ✗ DOES NOT FIT {self.gpu_text()}", "dim" if stale else "bold red")
            if with_max and self.max_batch_text():
                t.append(f" · {self.max_batch_text()}", "dim" if stale else "bold")
            if stale:
                t.append("  estimating…", "italic yellow")
        elif v.state == "unavailable":
            t.append(f"traced estimate unavailable: {safe_text(v.reason)}", "yellow")
        elif v.state == "estimating":
            t.append("estimating…", "italic yellow")
        else:
            t.append("estimate follows…", "dim")
        return t

    def step_text(self) -> Text:
        """Predicted step time against no freezing (traced FLOPs), greyed while recomputing."""
        e = self.estimate_view.estimate
        if e is None or not e.baseline_flops.step:
            return Text("")
        return Text(step_time_text(e.step_ratio), "dim" if self.estimate_view.state == "estimating" else "bold")

    def phases_text(self) -> Text:
        """Which phase of the run sets its peak, and epoch 0's figure beside it."""
        e = self.estimate_view.estimate
        if e is None or e.plan_run is None:
            return Text("")
        return Text(
            f"whole run set by {e.plan_run.phase}; epoch 0 alone {human_bytes(e.plan.nvidia_smi)}",
            "dim",
        )

    # -- layout ------------------------------------------------------------------------------

    def render(self) -> RenderableType:
        if self.size.width >= WIDE and self.screen.has_class("-wide"):
            return self._wide()
        return Group(
            self.counts_line(),
            Text.assemble(
                ("weights+grads+opt ", "dim"),
                self.state_line("SGD", self.figures.sgd),
                "  ",
                self.step_text() if self.step_text().plain else self.state_line("Adam", self.figures.adam),
                no_wrap=True,
                overflow="ellipsis",
            ),
            self.peak_line(),
            Text.assemble(
                self.settings_text(),
                ("  │  ", "dim"),
                self.freeze_line(compact=True),
                no_wrap=True,
                overflow="ellipsis",
            ),
        )

    def _wide(self) -> RenderableType:
        c = self.figures.counts
        counts = Table.grid(padding=(0, 1))
        counts.add_column(style="dim")
        counts.add_column(justify="right", style="bold")
        counts.add_column(justify="right")
        counts.add_row("total", human_count(c.total_params), human_bytes(c.total_bytes))
        counts.add_row(Text("□ trainable", "green"), human_count(c.trainable_params), _pct(c.trainable_fraction))
        counts.add_row(Text("■ frozen", "cyan"), human_count(c.frozen_params), _pct(c.frozen_fraction))
        counts.add_row("tensors frozen", str(c.frozen_tensors), f"of {c.total_tensors}")

        state = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
        state.add_column("weights+grads+opt")
        state.add_column("plan", justify="right")
        state.add_column("none", justify="right")
        state.add_column("saved", justify="right")
        for name, (plan, base) in (("SGD", self.figures.sgd), ("Adam", self.figures.adam)):
            state.add_row(
                name,
                Text(human_bytes(plan.weights_grads_optimizer), "bold"),
                human_bytes(base.weights_grads_optimizer),
                _saved(plan.weights_grads_optimizer, base.weights_grads_optimizer),
            )
        parts: list[RenderableType] = [
            Text("PARAMETERS", "bold"),
            counts,
            Text(""),
            Text("STATE BYTES", "bold"),
            state,
            Text(""),
            Text("YOLOV5", "bold"),
            self.freeze_line(),
            Text(""),
            Text("TRAINING PEAK (traced, per GPU)", "bold"),
            self.settings_text(),
            self.peak_line(with_max=False),
            *(line for line in (self.phases_text(), self.step_text()) if line.plain),
        ]
        most = self.estimate_view.max_batch
        if most is not None:  # its own line: beside the verdict it is cut at 120 columns
            line = f"largest batch that fits: {most}" if most else "batch 1 does not fit"
            parts.append(Text(line, "dim" if self.estimate_view.state == "estimating" else "bold"))
        e = self.estimate_view.estimate
        if e is not None:
            parts.append(self._breakdown(e.plan, e.baseline, stale=self.estimate_view.state == "estimating"))
        return Group(*parts)

    def _breakdown(self, plan: MemoryBreakdown, base: MemoryBreakdown, *, stale: bool = False) -> Table:
        table = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim", style="dim" if stale else "")
        table.add_column("")
        table.add_column("plan", justify="right")
        table.add_column("none", justify="right")
        for f in fields(plan):
            a, b = getattr(plan, f.name), getattr(base, f.name)
            bold = f.name in ("peak_reserved", "nvidia_smi")
            style = "dim" if stale else "bold" if bold else ""
            table.add_row(f.name.replace("_", " "), Text(human_bytes(a), style), human_bytes(b))
        return table
