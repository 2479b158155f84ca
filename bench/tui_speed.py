"""How quick the TUI feels: first frame, toggle handler time, idle CPU. Prints figures.

1. First interactive frame: the installed ``yolofreeze-tui`` runs on a pseudo-terminal (80x24)
   and the clock stops when its output holds the tree and the footer; from process start.
2. Toggle: on yolov5x (375 parameters, ~450 modules), headless at 80x24, the time of the space
   handler (plan, repaint of the affected rows, instant summary figures) and of that handler
   plus drawing the visible tree rows and the summary, for rows of every kind.
3. Idle CPU: the real program on the pty after the first estimate has settled, process CPU
   time over a quiet interval, as a share of one core.

Usage: python bench/tui_speed.py [--ckpt-dir .cache/ckpt] [--runs 5] [--idle 10]
Targets (issue 3): first frame <= 1.0 s on yolov5m; toggle <= 16 ms; idle <= 2 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import platform
import select
import shutil
import statistics
import struct
import sys
import termios
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def program() -> str:
    local = Path(sys.executable).parent / "yolofreeze-tui"
    found = str(local) if local.exists() else shutil.which("yolofreeze-tui")
    if not found:
        raise SystemExit("yolofreeze-tui is not installed (pip install -e .)")
    return found


class PtyProgram:
    """The program on a pseudo-terminal of a given size; reads everything it draws."""

    def __init__(self, args: list[str], cols: int = 80, rows: int = 24) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
        self.started = time.perf_counter()
        self.proc = psutil.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, cwd=ROOT
        )
        os.close(slave)
        self.master = master
        self.output = b""

    def read_until(self, needles: list[bytes], timeout: float) -> float:
        """Seconds from process start until every needle has appeared in the output."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.005)
            if ready:
                try:
                    self.output += os.read(self.master, 1 << 16)
                except OSError:
                    break
                if all(n in self.output for n in needles):
                    return time.perf_counter() - self.started
        raise RuntimeError(f"did not see {needles} within {timeout}s")

    def drain(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    os.read(self.master, 1 << 16)
                except OSError:
                    return

    def quit(self) -> None:
        try:
            os.write(self.master, b"\x11")  # ctrl+q: quit without the unsaved-plan question
            self.proc.wait(10)
        except (OSError, psutil.TimeoutExpired):
            self.proc.kill()
        os.close(self.master)


FIRST_FRAME = [b"BACKBONE", b"Quit", b"trainable"]


def first_frame(ckpt: Path, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        prog = PtyProgram([program(), str(ckpt)])
        try:
            out.append(prog.read_until(FIRST_FRAME, 30))
        finally:
            prog.quit()
    return out


def idle_cpu(ckpt: Path, seconds: float, settle: float) -> tuple[float, float]:
    """(% of one core while idle, seconds waited for the first estimate to settle)."""
    prog = PtyProgram([program(), str(ckpt)])
    try:
        prog.read_until(FIRST_FRAME, 30)
        prog.drain(settle)  # the first traced estimate (torch import, trace) runs in this window
        procs = [prog.proc, *prog.proc.children(recursive=True)]  # the estimate's child too

        def cpu() -> float:
            total = 0.0
            for p in procs:
                try:
                    t = p.cpu_times()
                except psutil.Error:
                    continue
                total += t.user + t.system
            return total

        before = cpu()
        t0 = time.perf_counter()
        prog.drain(seconds)
        used = cpu() - before
        return 100 * used / (time.perf_counter() - t0), settle
    finally:
        prog.quit()


async def toggle_times(ckpt: Path, repeats: int) -> dict[str, list[float]]:
    from yolofreeze.tui.app import make_app
    from yolofreeze.tui.screens.main import MainScreen
    from yolofreeze.tui.widgets.layer_tree import LayerTree
    from yolofreeze.tui.widgets.summary import PlanSummary

    app = make_app(ckpt, estimate_delay=-1)  # the traced estimate is a worker; not part of the handler
    from yolofreeze.core.plan.freeze import yolov5_args

    times: dict[str, list[float]] = {"handler": [], "handler+draw": [], "--freeze after": []}
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            await pilot.pause(0.01)
            if isinstance(app.screen, MainScreen) and app.screen.query(LayerTree):
                break
        screen = app.screen
        assert isinstance(screen, MainScreen)
        tree = screen.layer_tree
        tree.action_expand_all()
        await pilot.pause()
        summary = screen.query_one(PlanSummary)
        kinds = {"section": 0, "layer": 0, "module": 0, "parameter": 0}
        targets: list[str] = []
        for entry in screen.model.walk():
            if kinds[entry.kind] < 3:
                kinds[entry.kind] += 1
                targets.append(entry.key)
        height = tree.scrollable_content_region.height
        for _ in range(repeats):
            for key in targets:
                node = tree.node_for(key)
                assert node is not None
                tree.cursor_line = node.line
                tree.scroll_to_line(node.line, animate=False)
                await pilot.pause()
                t0 = time.perf_counter()
                screen.action_toggle_freeze()
                t1 = time.perf_counter()
                top = int(tree.scroll_offset.y)
                for y in range(height):  # what the compositor will ask for: the visible rows
                    tree._render_line(top + y, 0, tree.size.width, tree.rich_style)
                summary.render()
                t2 = time.perf_counter()
                times["handler"].append(1000 * (t1 - t0))
                times["handler+draw"].append(1000 * (t2 - t0))
                t3 = time.perf_counter()  # done just after the frame (call_after_refresh), not in it
                yolov5_args(screen.plan)
                times["--freeze after"].append(1000 * (time.perf_counter() - t3))
                await pilot.pause()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt-dir", default=str(ROOT / ".cache" / "ckpt"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--settle", type=float, default=40.0, help="seconds for the first estimate to finish")
    args = ap.parse_args()
    d = Path(args.ckpt_dir)
    m, x = d / "yolov5m.pt", d / "yolov5x.pt"
    for f in (m, x):
        if not f.exists():
            raise SystemExit(f"missing {f}: python tests/make_checkpoints.py {d} {f.name}")

    print(
        f"# yolofreeze-tui speed ({time.strftime('%Y-%m-%d')}, {platform.python_version()}, "
        f"{psutil.cpu_count()} CPUs, {platform.machine()})"
    )
    ff = first_frame(m, args.runs)
    print(
        f"first frame, yolov5m, process start -> tree+footer on an 80x24 pty: "
        f"median {statistics.median(ff):.3f} s, min {min(ff):.3f}, max {max(ff):.3f} "
        f"(n={len(ff)}; target <= 1.0 s)"
    )

    t = asyncio.run(toggle_times(x, repeats=5))
    for name, vals in t.items():
        vals.sort()
        p95 = vals[int(0.95 * (len(vals) - 1))]
        print(
            f"toggle {name:<14} yolov5x: median {statistics.median(vals):.2f} ms, p95 {p95:.2f}, "
            f"max {max(vals):.2f} (n={len(vals)}; target <= 16 ms)"
        )

    pct, settle = idle_cpu(m, args.idle, args.settle)
    print(
        f"idle CPU (app + estimate child), yolov5m, {args.idle:.0f} s after a {settle:.0f} s settle: "
        f"{pct:.2f}% of one core (target <= 2%)"
    )


if __name__ == "__main__":
    main()
