"""The estimate child: the shipped app traces there (never in the TUI process), and the child never
writes to the terminal Textual owns (its output goes to a log file)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from yolofreeze.tui.estimate_process import LOG_NAME, ProcessEstimator


def test_child_stdout_and_stderr_go_to_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("YOLOFREEZE_CACHE_DIR", str(tmp_path))
    est = ProcessEstimator()
    try:
        pool = est._get_pool()
        # Python-level and fd-level writes, as yolov5's logging and a C library would make them
        assert pool.submit(print, "hello from the child").result(timeout=120) is None
        assert pool.submit(os.system, "echo fd-level; echo fd-err >&2").result(timeout=60) == 0
    finally:
        est.close()
    out, err = capfd.readouterr()
    assert "hello from the child" not in out + err and "fd-level" not in out + err and "fd-err" not in out + err
    log = (tmp_path / LOG_NAME).read_text()
    assert "estimate child" in log and "hello from the child" in log and "fd-level" in log and "fd-err" in log


def test_the_shipped_app_estimates_in_the_child_and_never_imports_torch(yolov5n: Path, tmp_path: Path) -> None:
    """The default app (no injected estimator) opens a real checkpoint, the traced figure lands on
    screen with the largest batch that fits, and torch was never imported in the TUI process (a fresh
    one: other tests import torch)."""
    script = f"""
import asyncio, json, sys, time
from yolofreeze.tui.app import make_app
from yolofreeze.tui.widgets.summary import PlanSummary
async def go():
    app = make_app({str(yolov5n)!r})
    peak = ""
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            await pilot.pause(0.1)
            found = app.screen.query(PlanSummary)
            peak = found.first().peak_line().plain if found else ""
            if "max batch" in peak and "estimating" not in peak:  # the child's second answer too
                break
        print(json.dumps({{"peak": peak, "torch": "torch" in sys.modules, "yolov5": "yolov5" in sys.modules}}))
        app.exit(0)
asyncio.run(go())
"""
    env = dict(os.environ, YOLOFREEZE_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert "GiB" in seen["peak"] or "MiB" in seen["peak"], seen["peak"]  # a figure, not "estimating…"
    assert "estimating" not in seen["peak"] and "unavailable" not in seen["peak"]
    assert re.search(r"fits .*GiB · max batch [1-9][0-9]*", seen["peak"]), seen["peak"]
    assert seen["torch"] is False and seen["yolov5"] is False
