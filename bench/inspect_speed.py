"""Whole-process time and peak memory: `inspect --json` against torch.load + named_parameters.

Usage: python bench/inspect_speed.py [CHECKPOINT] [--runs N]
Without CHECKPOINT, builds a yolov5x-size checkpoint (~174 MB) with tests/make_checkpoints.py.
Both routes run as fresh processes, alternating, and the medians are compared in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TORCH_ROUTE = """
import sys, torch
import yolov5.models.yolo  # the classes torch.load needs
ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
model = ckpt["model"] if isinstance(ckpt, dict) else ckpt
names = [(n, tuple(p.shape), str(p.dtype)) for n, p in model.named_parameters()]
print(len(names))
"""


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", nargs="?")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if args.checkpoint:
        ckpt = Path(args.checkpoint)
    else:
        ckpt = ROOT / ".cache" / "bench" / "yolov5x.pt"
        if not ckpt.exists():
            subprocess.run(
                [sys.executable, str(ROOT / "tests" / "make_checkpoints.py"), str(ckpt.parent), "yolov5x.pt"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
    ours = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()", "inspect", "--json", str(ckpt)]
    theirs = [sys.executable, "-c", TORCH_ROUTE, str(ckpt)]
    timed(ours)  # warm the page cache and .pyc files for both routes
    timed(theirs)
    a, b = [], []
    for _ in range(args.runs):
        a.append(timed(ours))
        b.append(timed(theirs))
    ta, tb = statistics.median(t for t, _ in a), statistics.median(t for t, _ in b)
    ma, mb = max(m for _, m in a), max(m for _, m in b)
    print(
        f"checkpoint: {ckpt.name}, {ckpt.stat().st_size / 1e6:.1f} MB; {args.runs} runs each, medians; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{'route':<44} {'wall s':>8} {'peak RSS MiB':>13}")
    print(f"{'yolofreeze-tui inspect --json':<44} {ta:>8.3f} {ma / 1024:>13.1f}")
    print(f"{'import torch; torch.load(); named_parameters':<44} {tb:>8.3f} {mb / 1024:>13.1f}")
    print(f"speed-up: {tb / ta:.1f}x faster; memory: {mb / ma:.1f}x less")
    print(
        f"targets: inspect <= 0.3 s -> {'met' if ta <= 0.3 else 'MISSED'}; "
        f">= 20x -> {'met' if tb / ta >= 20 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
