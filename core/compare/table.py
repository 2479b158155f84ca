"""The comparison: one row per plan, each figure beside its difference from the first plan.

One home for the numbers and their wording: the CLI, the report and the TUI screen all show
what ``compare`` returns. Differences are: relative for parameters and memory (-53%), a speed
ratio for time (1.6x faster per epoch), mAP points for accuracy (-2.1 mAP50 = 2.1 points).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yolofreeze.core.compare.summary import RunSummary

MINUS = "\u2212"  # a real minus sign: it reads as a number, a hyphen reads as a dash in prose
TIMES = "\u00d7"
MIB = 1 << 20


def _signed(x: float, fmt: str) -> str:
    text = format(abs(x), fmt)
    if float(text) == 0.0:
        return "±" + text
    return ("+" if x > 0 else MINUS) + text


def _pct(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or not base:
        return None
    return (value - base) / base * 100.0


def _points(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else (value - base) * 100.0


def _speedup(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None or value <= 0 else base / value


@dataclass(frozen=True)
class Metric:
    key: str  # comparison.csv / --json name
    title: str  # table header
    value: Callable[[RunSummary], float | int | str | None]
    show: Callable[[Any], str]
    delta: str = ""  # "pct", "speed", "points" or "" (no difference shown)


def _num(fmt: str) -> Callable[[Any], str]:
    return lambda v: "N/A" if v is None else format(v, fmt)


def _mib(v: Any) -> str:
    return "N/A" if v is None else f"{v / MIB:,.0f} MiB"


def _secs(v: Any) -> str:
    return "N/A" if v is None else f"{v:,.1f} s"


def _frac(v: Any) -> str:
    return "N/A" if v is None else f"{v * 100:.1f}%"


def _text(v: Any) -> str:
    return "N/A" if v is None else str(v)


METRICS: tuple[Metric, ...] = (
    Metric("frozen_fraction", "frozen", lambda s: s.frozen_fraction, _frac),
    Metric("trainable_params", "trainable params", lambda s: s.trainable_params, _num(",d"), "pct"),
    Metric("predicted_peak_bytes", "predicted peak", lambda s: s.predicted_peak, _mib, "pct"),
    Metric("observed_peak_bytes", "observed peak", lambda s: s.observed_peak, _mib, "pct"),
    Metric("mean_epoch_s", "mean epoch", lambda s: s.mean_epoch_seconds, _secs, "speed"),
    Metric("total_s", "total", lambda s: s.total_seconds, _secs, "speed"),
    Metric("best_map50", "best mAP50", lambda s: s.best("mAP50"), _num(".4f"), "points"),
    Metric("final_map50", "final mAP50", lambda s: s.final("mAP50"), _num(".4f"), "points"),
    Metric("best_map50_95", "best mAP50-95", lambda s: s.best("mAP50-95"), _num(".4f"), "points"),
    Metric("final_map50_95", "final mAP50-95", lambda s: s.final("mAP50-95"), _num(".4f"), "points"),
    Metric("final_box_loss", "box loss", lambda s: s.final("box_loss"), _num(".4f"), "pct"),
    Metric("final_obj_loss", "obj loss", lambda s: s.final("obj_loss"), _num(".4f"), "pct"),
    Metric("final_cls_loss", "cls loss", lambda s: s.final("cls_loss"), _num(".4f"), "pct"),
    Metric("epochs", "epochs", lambda s: s.epochs, _num("d")),
    Metric("check", "frozen check", lambda s: s.check, _text),
    Metric("state", "state", lambda s: s.state, _text),
)


def difference(metric: Metric, value: Any, base: Any) -> float | None:
    if not metric.delta or not isinstance(value, (int, float)) or not isinstance(base, (int, float)):
        return None
    if metric.delta == "pct":
        return _pct(value, base)
    if metric.delta == "speed":
        return _speedup(value, base)
    return _points(value, base)


def show_difference(metric: Metric, d: float | None) -> str:
    if d is None:
        return ""
    if metric.delta == "pct":
        return f"{_signed(d, '.0f')}%"
    if metric.delta == "speed":
        return f"{d:.2f}{TIMES}"
    return _signed(d, ".1f")


@dataclass(frozen=True)
class Comparison:
    summaries: tuple[RunSummary, ...]
    headers: tuple[str, ...]  # "plan", then each metric's title
    cells: tuple[tuple[str, ...], ...]  # one row per plan, formatted; differences in brackets
    verdicts: tuple[str, ...]  # one line per plan after the first

    def records(self) -> list[dict[str, Any]]:
        """Raw values and differences, for comparison.csv and --json (None = unknown)."""
        base = self.summaries[0]
        out = []
        for s in self.summaries:
            row: dict[str, Any] = {"plan": s.label, "source": s.source, "kind": s.kind}
            for m in METRICS:
                v = m.value(s)
                row[m.key] = v
                if m.delta:
                    row[f"{m.key}_vs_first"] = difference(m, v, m.value(base))
            out.append(row)
        return out


def verdict(s: RunSummary, base: RunSummary) -> str:
    """A plain-words line: "backbone: -2.1 mAP50, 1.6x faster per epoch, -53% memory"."""
    parts = []
    d = _points(s.final("mAP50"), base.final("mAP50"))
    if d is not None:
        parts.append(f"{_signed(d, '.1f')} mAP50")
    d = _points(s.final("mAP50-95"), base.final("mAP50-95"))
    if d is not None:
        parts.append(f"{_signed(d, '.1f')} mAP50-95")
    sp = _speedup(s.mean_epoch_seconds, base.mean_epoch_seconds)
    if sp is not None:
        parts.append(f"{sp:.1f}{TIMES} faster per epoch" if sp >= 1 else f"{1 / sp:.1f}{TIMES} slower per epoch")
    mem = _pct(s.observed_peak, base.observed_peak)
    if mem is not None:
        parts.append(f"{_signed(mem, '.0f')}% memory")
    else:
        mem = _pct(s.predicted_peak, base.predicted_peak)
        if mem is not None:
            parts.append(f"{_signed(mem, '.0f')}% predicted memory")
    tp = _pct(s.trainable_params, base.trainable_params)
    if tp is not None:
        parts.append(f"{_signed(tp, '.0f')}% trainable parameters")
    if s.check == "FAIL":
        parts.append("frozen-weights check FAILED")
    against = f" (against {base.label})"
    return f"{s.label}: {', '.join(parts) if parts else 'nothing comparable was recorded'}{against}"


def compare(summaries: list[RunSummary]) -> Comparison:
    if not summaries:
        raise ValueError("nothing to compare")  # callers refuse an empty list with a user message
    base = summaries[0]
    headers = ("plan", *(m.title for m in METRICS))
    rows = []
    for s in summaries:
        cells = [s.label]
        for m in METRICS:
            v = m.value(s)
            text = m.show(v)
            if s is not base:
                d = show_difference(m, difference(m, v, m.value(base)))
                if d:
                    text = f"{text} ({d})"
            cells.append(text)
        rows.append(tuple(cells))
    return Comparison(tuple(summaries), headers, tuple(rows), tuple(verdict(s, base) for s in summaries[1:]))


def text_table(c: Comparison) -> list[str]:
    """The table transposed (one column per plan): 16 figures fit a terminal's height, not its width."""
    width0 = max(len(h) for h in c.headers)
    columns = list(zip(*c.cells, strict=True))  # columns[i] = header i's cells, one per plan
    plan_widths = [max(len(row[i]) for i in range(len(c.headers))) for row in c.cells]
    lines = []
    for i, head in enumerate(c.headers):
        vals = columns[i]
        lines.append(
            f"{head:<{width0}}  " + "  ".join(f"{v:<{w}}" for v, w in zip(vals, plan_widths, strict=True)).rstrip()
        )
    return lines
