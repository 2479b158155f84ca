"""A report to share: report.md (the table and a verdict per plan), comparison.csv, PNG charts.

matplotlib comes with yolov5; it is imported here only, when a report is written, with the Agg
backend (no display needed over SSH). Every file goes through ``safeio.write_atomic``: a
symlink, a FIFO or a device at a target path is refused, never written through.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

from yolofreeze.core.compare.summary import RunSummary
from yolofreeze.core.compare.table import Comparison, text_table
from yolofreeze.core.errors import UsageError
from yolofreeze.core.safeio import check_output_path, describe_mode, write_atomic

CURVE_PANELS = (("mAP50", "mAP50"), ("mAP50-95", "mAP50-95"), ("train loss (box+obj+cls)", "loss"))


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(c: Comparison, charts: list[str]) -> str:
    plans = [row[0] for row in c.cells]
    lines = [
        "# Freeze plans compared",
        "",
        f"{len(plans)} runs; differences are against the first, **{_md_cell(plans[0])}**: parameters and "
        "memory in per cent, time as a speed ratio (2.00\u00d7 = twice as fast), mAP in points.",
        "",
        "| | " + " | ".join(_md_cell(p) for p in plans) + " |",
        "|---|" + "---|" * len(plans),
    ]
    for i, head in enumerate(c.headers[1:], start=1):
        lines.append(f"| {head} | " + " | ".join(_md_cell(row[i]) for row in c.cells) + " |")
    lines += ["", "## Verdict", ""]
    if c.verdicts:
        lines.append(" ".join(_md_cell(v) + "." for v in c.verdicts))
    else:
        lines.append("Only one run: nothing to compare it against.")
    notes = [(s.label, n) for s in c.summaries for n in s.notes]
    if notes:
        lines += ["", "## Not known", ""] + [f"- {_md_cell(label)}: {_md_cell(n)}" for label, n in notes]
    lines += ["", "## Sources", ""] + [f"- {_md_cell(s.label)}: `{_md_cell(s.source)}`" for s in c.summaries]
    if charts:
        lines += ["", "## Charts", ""] + [f"![{name}]({name})" for name in charts]
    return "\n".join(lines) + "\n"


def comparison_csv(c: Comparison) -> str:
    rows = c.records()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


def _png(fig: object) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)  # type: ignore[attr-defined]
    return buf.getvalue()


def charts(c: Comparison) -> dict[str, bytes]:
    """curves.png (per-epoch mAP50, mAP50-95, train loss, one line per plan) and cost.png (bars)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out: dict[str, bytes] = {}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (title, key) in zip(axes, CURVE_PANELS, strict=True):
        for s in c.summaries:
            if key == "loss":
                parts = [s.curves.get(k, ()) for k in ("box_loss", "obj_loss", "cls_loss")]
                n = min((len(p) for p in parts), default=0)
                ys: list[float] = [sum(p[i] for p in parts) for i in range(n)]
            else:
                ys = list(s.curves.get(key, ()))
            if ys:
                ax.plot(range(len(ys)), ys, marker="o", label=s.label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    out["curves.png"] = _png(fig)
    plt.close(fig)

    bars: tuple[tuple[str, Callable[[RunSummary], float | None]], ...] = (
        ("trainable parameters (M)", lambda s: None if s.trainable_params is None else s.trainable_params / 1e6),
        ("mean epoch time (s)", lambda s: s.mean_epoch_seconds),
        ("peak memory (MiB)", lambda s: None if s.observed_peak is None else s.observed_peak / (1 << 20)),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    labels = [s.label for s in c.summaries]
    for ax, (title, fn) in zip(axes, bars, strict=True):
        values = [fn(s) for s in c.summaries]
        ax.bar(range(len(values)), [v or 0.0 for v in values], color=[f"C{i}" for i in range(len(values))])
        for i, v in enumerate(values):
            if v is None:
                ax.text(i, 0, "N/A", ha="center", va="bottom")
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize="small")
        ax.set_title(title)
    fig.tight_layout()
    out["cost.png"] = _png(fig)
    plt.close(fig)
    return out


def write_report(c: Comparison, out_dir: Path) -> list[Path]:
    """The report's files in ``out_dir`` (created); UsageError when it is not a folder we can write."""
    try:
        st = os.lstat(out_dir)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"--report {out_dir}: {describe_mode(st.st_mode)}, not a folder")
    names = ["report.md", "comparison.csv", "curves.png", "cost.png"]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for n in names:
            check_output_path(out_dir / n)
        pngs = charts(c)
        files = {"comparison.csv": comparison_csv(c).encode(), **pngs}
        files["report.md"] = markdown(c, list(pngs)).encode()
        written = []
        for n in names:
            write_atomic(out_dir / n, files[n])
            written.append(out_dir / n)
    except OSError as e:
        raise UsageError(f"--report {out_dir}: cannot write ({e.strerror or e})") from None
    return written


def text_report(c: Comparison) -> list[str]:
    """What the CLI prints: the table, then the verdicts."""
    return [*text_table(c), "", *c.verdicts]
