"""Does the compare queue slow its members' epochs? Same plans, queued vs launched one by one.

Usage: python bench/compare_overhead.py CHECKPOINT [--epochs 3] [--img 64] [--rounds 1] [--device cpu]

Each round runs the plans none, backbone, all twice: once as a queue (the detached queue
process launching them one after another) and once launched directly with
``training.launch.launch``, waiting for each to end. Rounds alternate which goes first (ABBA),
so a machine that gets busier over time does not favour one side. Epoch times come from the
runs' own event-file stamps (``core.compare``), epoch 0 left out (setup). ratio =
direct / queued mean epoch time: 1.00 means no difference, ≥ 0.98 is the target.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolofreeze.core.checkpoint.reader import read_checkpoint  # noqa: E402
from yolofreeze.core.compare.queue import create_queue, load_queue, start_queue_process  # noqa: E402
from yolofreeze.core.compare.sources import queue_summaries  # noqa: E402
from yolofreeze.core.compare.summary import RunSummary, summarize_record  # noqa: E402
from yolofreeze.core.plan.freeze import preset  # noqa: E402
from yolofreeze.core.training.dataset import make_dataset  # noqa: E402
from yolofreeze.core.training.launch import LaunchOptions, launch  # noqa: E402
from yolofreeze.core.training.runs import run_status  # noqa: E402

PLANS = ("none", "backbone", "all")
QUEUE_CPU: list[tuple[float, float]] = []  # (queue process CPU seconds, queue wall seconds) per round


def steady_epochs(s: RunSummary) -> list[float]:
    return list(s.epoch_seconds[1:])  # epoch 0 (from train start) carries dataloader warm-up


def queued(ckpt: Path, data: Path, opts: dict[str, object], state: Path) -> list[RunSummary]:
    info = read_checkpoint(ckpt)
    qdir = create_queue(str(ckpt), str(data), [(p, preset(info, p).frozen) for p in PLANS], opts, state)
    pid = start_queue_process(qdir)
    began = time.monotonic()
    cpu = 0.0
    while load_queue(qdir).phase not in ("done", "stopped"):
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            cpu = t.user + t.system  # the queue process's own CPU, not its members'
        time.sleep(1.0)
    QUEUE_CPU.append((cpu, time.monotonic() - began))
    return queue_summaries(qdir)


def direct(ckpt: Path, data: Path, opts: dict[str, object], state: Path) -> list[RunSummary]:
    info = read_checkpoint(ckpt)
    out = []
    for p in PLANS:
        rec = launch(
            LaunchOptions(checkpoint=str(ckpt), data=str(data), frozen=preset(info, p).frozen, name=p, **opts),  # type: ignore[arg-type]
            state=state,
        )
        while not run_status(rec).ended:
            time.sleep(1.0)
        out.append(summarize_record(rec, p))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--img", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="compare-overhead-"))
    data = make_dataset(tmp / "ds", n_train=8, n_val=4, size=a.img)
    opts: dict[str, object] = dict(
        epochs=a.epochs, batch=4, img=a.img, device=a.device, workers=0, project=str(tmp / "proj"), plots=False
    )
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(a.rounds):
        order = ("queue", "direct") if r % 2 == 0 else ("direct", "queue")
        for side in order:
            runs = (queued if side == "queue" else direct)(a.checkpoint, data, opts, tmp / f"state-{side}-{r}")
            for s in runs:
                if s.state != "finished":
                    print(f"{side} {s.label}: {s.state}; not counted", file=sys.stderr)
                    continue
                times.setdefault((side, s.label), []).extend(steady_epochs(s))
    print(
        f"compare queue overhead: {a.checkpoint.name}, {a.img} px, {a.epochs} epochs, {a.rounds} round(s), {a.device}"
    )
    print(f"{'plan':<10} {'queued s/epoch':>15} {'direct s/epoch':>15} {'ratio':>7}")
    ratios = []
    for p in PLANS:
        q, d = times.get(("queue", p), []), times.get(("direct", p), [])
        if not q or not d:
            print(f"{p:<10} {'N/A':>15} {'N/A':>15}")
            continue
        mq, md = statistics.mean(q), statistics.mean(d)
        ratios.append(md / mq)
        print(f"{p:<10} {mq:>15.3f} {md:>15.3f} {md / mq:>7.3f}")
    if ratios:
        print(f"overall ratio (direct / queued, mean of plans): {statistics.mean(ratios):.3f}")
    for cpu, wall in QUEUE_CPU:  # independent of the machine's load: what the queue itself costs
        print(f"queue process: {cpu:.2f} s CPU over {wall:.0f} s wall ({cpu / wall * 100:.2f}% of one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
