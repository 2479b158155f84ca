"""`runs` lists newest first; `runs --rm` / `--prune` remove ended runs' records, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.core import launch_helpers
from tests.core.test_cli import run
from yolofreeze.core.training.runs import RunRecord, write_json_atomic


def ended(state: Path, run_id: str, created: float, save_dir: Path | None = None) -> RunRecord:
    rec = launch_helpers.make_record(state, run_id, log="x" * 5000, created=created)
    write_json_atomic(rec.dir / "status.json", {"phase": "done", "ending": "finished", "save_dir": str(save_dir or "")})
    write_json_atomic(rec.dir / "exit.json", {"returncode": 0})
    return rec


@pytest.fixture
def live_pid() -> Iterator[psutil.Process]:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        yield psutil.Process(p.pid)
    finally:
        p.kill()
        p.wait()


def env(state: Path) -> dict[str, str]:
    return {"YOLOFREEZE_STATE_DIR": str(state)}


def test_runs_lists_newest_first(tmp_path: Path) -> None:
    ended(tmp_path, "20261101-100000-old-0001", created=time.time() - 3600)
    ended(tmp_path, "20261101-110000-new-0002", created=time.time())
    lines = run("runs", env=env(tmp_path)).stdout.splitlines()
    assert lines[0].startswith("20261101-110000-new-0002") and lines[1].startswith("20261101-100000-old-0001")


def test_prune_removes_ended_records_keeps_live_unreadable_and_training_outputs(
    tmp_path: Path, live_pid: psutil.Process
) -> None:
    state = tmp_path / "state"
    outputs = tmp_path / "proj" / "exp"
    (outputs / "weights").mkdir(parents=True)
    (outputs / "weights" / "best.pt").write_bytes(b"w" * 100)
    old = ended(state, "20261101-090000-old-0001", time.time() - 10 * 86400, outputs)
    mid = ended(state, "20261101-100000-mid-0002", time.time() - 5 * 86400)
    new = ended(state, "20261101-110000-new-0003", time.time() - 60)
    live = launch_helpers.make_record(
        state, "20261101-080000-live-0004", pid=live_pid.pid, pid_create_time=live_pid.create_time(),
        created=time.time() - 20 * 86400,
    )  # fmt: skip
    broken = state / "runs" / "20261101-070000-broken-0005"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    os.symlink(elsewhere, state / "runs" / "20261101-060000-link-0006")

    dry = run("runs", "--prune", "--older-than", "1", "--dry-run", env=env(state))
    assert dry.returncode == 0 and "would remove 2 run records" in dry.stdout
    assert old.dir.exists() and mid.dir.exists()

    r = run("runs", "--prune", "--older-than", "1", env=env(state))
    assert r.returncode == 0, r.stderr
    assert not old.dir.exists() and not mid.dir.exists() and new.dir.exists()  # the 1-day-old one stays
    assert live.dir.exists() and "kept 20261101-080000-live-0004: it is" in r.stdout
    assert broken.exists() and (elsewhere / "keep.txt").read_text() == "mine"
    assert (outputs / "weights" / "best.pt").exists()  # the training's own outputs are the user's
    assert "removed 2 run records" in r.stdout and "Traceback" not in r.stderr

    keep = run("runs", "--prune", "--keep", "1", env=env(state))
    assert keep.returncode == 0 and new.dir.exists()  # the newest is kept; the live one still refused
    assert live.dir.exists()


def test_rm_refuses_a_live_run_and_removes_none(tmp_path: Path, live_pid: psutil.Process) -> None:
    a = ended(tmp_path, "20261101-100000-a-0001", time.time() - 100)
    live = launch_helpers.make_record(
        tmp_path, "20261101-110000-b-0002", pid=live_pid.pid, pid_create_time=live_pid.create_time()
    )
    r = run("runs", "--rm", "100000-a", "110000-b", env=env(tmp_path))
    assert r.returncode == 2 and a.dir.exists() and live.dir.exists()
    assert "not removed" in r.stderr and "stop it first" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    ok = run("runs", "--rm", "100000-a", env=env(tmp_path))
    assert ok.returncode == 0 and not a.dir.exists() and "removed 20261101-100000-a-0001 (finished" in ok.stdout


def test_rm_of_an_unknown_run_is_one_line(tmp_path: Path) -> None:
    ended(tmp_path, "20261101-100000-a-0001", time.time())
    r = run("runs", "--rm", "zzz", env=env(tmp_path))
    assert r.returncode == 7 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
