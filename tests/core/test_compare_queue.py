"""The compare queue, for real: yolov5n at 64 px on a generated 8-image dataset, CPU, detached.

The CLI is run as its own process and returns at once (``--detach``); the queue process lives
on in its own session (no terminal to lose), trains the members one after another, and every
member is an ordinary run with its own frozen-weights check.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from yolofreeze.core.compare.queue import find_queue, load_queue, queue_process_alive
from yolofreeze.core.training.dataset import make_dataset
from yolofreeze.core.training.runs import find_run, read_json, read_progress

pytestmark = pytest.mark.slow


def cli(state: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        YOLOFREEZE_STATE_DIR=str(state),
        YOLOFREEZE_FORBID_NETWORK="1",
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
    )
    return subprocess.run(
        [sys.executable, "-m", "yolofreeze.tui.cli", "compare", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,  # a terminal of its own, gone when it returns
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def queue_args(ckpt: Path, data: Path, project: Path, plans: str, epochs: int) -> list[str]:
    fixed = ["--batch", "4", "--img", "64", "--device", "cpu", "--workers", "0", "--detach"]
    return [
        str(ckpt),
        "--data",
        str(data),
        "--plans",
        plans,
        "--epochs",
        str(epochs),
        "--project",
        str(project),
        *fixed,
    ]


def test_a_three_plan_queue_finishes_detached_in_order_and_compares(tmp_path: Path, yolov5n: Path) -> None:
    data = make_dataset(tmp_path / "ds", n_train=8, n_val=4, size=64)
    state = tmp_path / "state"
    started = cli(state, *queue_args(yolov5n, data, tmp_path / "proj", "none,backbone,all", 2))
    assert started.returncode == 0, started.stderr
    qdir = find_queue("latest", state)
    pid = json.loads((qdir / "process.json").read_text())["pid"]
    assert os.getsid(pid) == pid  # its own session: closing the terminal sends it nothing
    view = wait_for("the queue to end", lambda: (v := load_queue(qdir)).phase in ("done", "stopped") and v, 900)
    assert [m.plan for m in view.members] == ["none", "backbone", "all"]
    assert [m.state for m in view.members] == ["finished"] * 3, [m.detail for m in view.members]
    records = [find_run(m.run_id or "?", state) for m in view.members]
    assert [r.created for r in records] == sorted(r.created for r in records)
    # one after another: each member started training only after the previous one had ended
    for before, after in itertools.pairwise(records):
        assert read_progress(before.dir).updated <= read_progress(after.dir).started  # type: ignore[operator]
    for r in records:
        assert (read_json(r.dir / "verify.json") or {}).get("ok") is True

    shown = cli(state, qdir.name, "--json", "--report", str(tmp_path / "rep"))
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["runs"]
    assert [r["plan"] for r in rows] == ["none", "backbone", "all"]
    trainable = [r["trainable_params"] for r in rows]
    assert trainable[0] > trainable[1] > trainable[2] > 0
    assert [r["check"] for r in rows] == ["PASS"] * 3
    assert all(r["epochs"] == 2 and r["mean_epoch_s"] > 0 for r in rows)
    rep = tmp_path / "rep"
    assert "backbone: " in (rep / "report.md").read_text()
    assert (rep / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len((rep / "comparison.csv").read_text().splitlines()) == 4


def test_stopping_a_queue_stops_its_member_and_skips_the_rest_and_resume_continues(
    tmp_path: Path, yolov5n: Path
) -> None:
    data = make_dataset(tmp_path / "ds", n_train=8, n_val=4, size=64)
    state = tmp_path / "state"
    assert cli(state, *queue_args(yolov5n, data, tmp_path / "proj", "none,all", 300)).returncode == 0
    qdir = find_queue("latest", state)

    def training() -> str | None:
        m = load_queue(qdir).members[0]
        return m.run_id if m.run_id and read_progress(find_run(m.run_id, state).dir).started else None

    first = wait_for("the first member to train", training, 300)
    stopped = cli(state, "--stop", qdir.name)
    assert stopped.returncode == 0, stopped.stderr
    wait_for("the queue process to leave", lambda: not queue_process_alive(qdir), 120)
    view = load_queue(qdir)
    assert (view.phase, [m.state for m in view.members]) == ("stopped", ["stopped", "skipped"])

    resumed = cli(state, "--resume", qdir.name, "--detach")
    assert resumed.returncode == 0, resumed.stderr
    again = wait_for(
        "the resumed member to start", lambda: (m := load_queue(qdir).members[0]).run_id != first and m.run_id, 120
    )
    assert cli(state, "--stop", qdir.name).returncode == 0
    wait_for("the queue process to leave", lambda: not queue_process_alive(qdir), 120)
    assert load_queue(qdir).members[0].run_id == again
    assert cli(state, "--resume", "nosuchqueue").returncode == 7
