"""Real YOLOv5 runs (yolov5n, 64 px, CPU) stopped, paused, orphaned, deleted and starved of disk.

Stages are held with the runner's test pause (``YOLOFREEZE_TEST_PAUSE_AT=stage``: the process
writes ``paused-STAGE`` in its run folder and waits for the stop, or for ``release-STAGE``), so
every test waits for a condition, never for a guessed time. Each stopped run asks for 50 epochs:
it cannot end by itself within the grace period, so "stopped" means the stop worked.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests import waiting
from tests.core.launch_helpers import fast_options, wait_end
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import preset
from yolofreeze.core.training.child.runner import PAUSE_ENV
from yolofreeze.core.training.dataset import make_dataset
from yolofreeze.core.training.launch import launch
from yolofreeze.core.training.runs import (
    RunRecord,
    find_run,
    process_state,
    read_json,
    read_results,
    run_status,
    stop_run,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
STOP_WITHIN = 15.0


def wait_for(cond: Callable[[], object], timeout: float, what: str, log: Path | None = None) -> None:
    """``tests.waiting.wait_for``, failing with the tail of the run's log when one is given."""

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:] if log and log.exists() else ""

    waiting.wait_for(cond, timeout, what, detail=tail)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 16 images at batch 2: 8 batches an epoch, so "mid-epoch" is a real place
    return make_dataset(tmp_path_factory.mktemp("ds"), n_train=16, n_val=4, size=64)


def start(ckpt: Path, data: Path, tmp_path: Path, pause: str, **kw: object) -> RunRecord:
    info = read_checkpoint(ckpt)
    opts = fast_options(ckpt, data, preset(info, "backbone").frozen, tmp_path / "proj", batch=2, **kw)
    opts = type(opts)(**{**opts.__dict__, "extra_env": {**opts.extra_env, PAUSE_ENV: pause}})
    return launch(opts, state=tmp_path / "state")


def trainer_of(rec: RunRecord) -> tuple[int, float]:
    t = read_json(rec.dir / "trainer.json") or {}
    return int(t["pid"]), float(t["create_time"])


@pytest.mark.parametrize("stage", ["import", "dataloader", "anchors", "batch:0:0", "batch:1:4"])
def test_stop_at_every_stage_ends_stopped(yolov5n: Path, data: Path, tmp_path: Path, stage: str) -> None:
    rec = start(yolov5n, data, tmp_path, stage, epochs=50)
    wait_for(lambda: (rec.dir / f"paused-{stage}").exists(), 180, f"the run to reach {stage}", Path(rec.log))
    tpid, tctime = trainer_of(rec)
    t0 = time.monotonic()
    stop_run(rec)
    st = wait_end(rec, STOP_WITHIN)
    took = time.monotonic() - t0
    log = Path(rec.log).read_text(errors="replace")
    assert st.state == "stopped" and took < STOP_WITHIN, log[-3000:]
    assert process_state(rec.pid, rec.pid_create_time) == "gone" and process_state(tpid, tctime) == "gone"
    assert (read_json(rec.dir / "exit.json") or {})["returncode"] == 130
    status = read_json(rec.dir / "status.json") or {}
    assert status["ending"] == "stopped", status
    assert "training stopped on request" in log and "Traceback" not in log
    if stage == "batch:1:4":
        # mid-epoch 1: epoch 0 finished, so its last.pt is kept, whole and loadable
        pr = st.progress
        assert (pr.epoch, pr.batch) == (1, 4), pr
        last = Path(st.save_dir or "") / "weights" / "last.pt"
        assert read_checkpoint(last).metadata is not None
        assert len(read_results(st.save_dir)[1]) == 1
    if stage == "anchors":
        # the stop landed inside yolov5's TryExcept around check_anchors and was still honoured
        assert "after check_anchors" in status["stopped_at"]


def cli_train(yolov5n: Path, data: Path, tmp_path: Path, pause: str) -> subprocess.Popen[str]:
    env = dict(os.environ, YOLOFREEZE_STATE_DIR=str(tmp_path / "state"), **{PAUSE_ENV: pause})
    cmd = [
        sys.executable, "-m", "yolofreeze.tui.cli", "train", str(yolov5n), "--data", str(data), "--preset", "backbone",
        "--epochs", "50", "--batch", "2", "--img", "64", "--device", "cpu", "--workers", "0",
        "--project", str(tmp_path / "proj"), "--name", "cli", "--no-plots", "--no-estimate",
    ]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def paused_run_dir(tmp_path: Path, stage: str) -> Path | None:
    hits = list((tmp_path / "state" / "runs").glob(f"*/paused-{stage}"))
    return hits[0].parent if hits else None


@pytest.mark.parametrize("stage", ["spawned", "hashing"])
def test_ctrl_c_in_trains_own_start_up_stops_a_listed_run(
    yolov5n: Path, data: Path, tmp_path: Path, stage: str
) -> None:
    """Ctrl-C while `train` is between starting the supervisor and recording the run ("spawned"),
    or while it hashes the checkpoint: the run is listed, stopped, and `train` says so."""
    p = cli_train(yolov5n, data, tmp_path, stage)
    try:
        wait_for(lambda: paused_run_dir(tmp_path, stage) is not None, 60, f"train to reach {stage}")
        run_dir = paused_run_dir(tmp_path, stage)
        assert run_dir is not None
        sup = [c for c in psutil.Process(p.pid).children() if "supervise" in " ".join(c.cmdline())]
        assert len(sup) == 1
        if stage == "spawned":
            # the supervisor waits for the record: no training process exists yet
            # (at "hashing" the record is on disk and "go" was sent: the trainer may be starting)
            assert sup[0].children() == [] and not (run_dir / "trainer.json").exists()
        if stage == "hashing":
            assert find_run(run_dir.name, tmp_path / "state").pid == sup[0].pid  # listed before the hash
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        if stage == "spawned":
            # held (blocked) until run.json is on disk, then delivered: without that, `train`
            # would say "interrupted before the training started" and the run would be lost
            (run_dir / f"release-{stage}").write_text("")
        out, err = p.communicate(timeout=STOP_WITHIN + 30)
    finally:
        if p.poll() is None:
            p.kill()
    rec = find_run(run_dir.name, tmp_path / "state")
    st = run_status(rec)
    assert p.returncode == 130, out[-2000:] + err[-2000:]
    assert st.state == "stopped" and time.monotonic() - t0 < STOP_WITHIN + 5, st
    assert f"stopping run {rec.run_id}" in out and f"run {rec.run_id}: stopped" in out
    assert process_state(rec.pid, rec.pid_create_time) == "gone"
    assert "Traceback" not in err and "interrupted before" not in err


def test_sigstop_and_a_lost_supervisor_the_training_still_ends_recorded(
    yolov5n: Path, data: Path, tmp_path: Path
) -> None:
    rec = start(yolov5n, data, tmp_path, "batch:0:2", epochs=2)
    wait_for(lambda: (rec.dir / "paused-batch:0:2").exists(), 180, "batch 2", Path(rec.log))
    tpid, _ = trainer_of(rec)
    os.kill(tpid, signal.SIGSTOP)
    wait_for(lambda: run_status(rec).state == "paused", 10, "paused")
    os.kill(tpid, signal.SIGCONT)
    wait_for(lambda: run_status(rec).state == "running", 10, "running again")
    os.kill(rec.pid, signal.SIGKILL)  # the supervisor, alone
    wait_for(lambda: process_state(rec.pid, rec.pid_create_time) == "gone", 10, "the supervisor to die")
    st = run_status(rec)
    assert st.alive and st.state == "running"
    assert st.detail == f"supervisor lost — training still running (pid {tpid})"
    (rec.dir / "release-batch:0:2").write_text("")
    st = wait_end(rec, 180)
    assert st.state == "finished", Path(rec.log).read_text(errors="replace")[-3000:]
    assert "supervisor was lost; the training recorded its own end" in st.detail
    assert not (rec.dir / "exit.json").exists()
    assert len(read_results(st.save_dir)[1]) == 2


def test_deleting_the_run_folder_does_not_kill_the_training(yolov5n: Path, data: Path, tmp_path: Path) -> None:
    import shutil

    rec = start(yolov5n, data, tmp_path, "none", epochs=3)
    wait_for(lambda: (read_json(rec.dir / "progress.json") or {}).get("started"), 180, "training", Path(rec.log))
    tpid, _ = trainer_of(rec)
    save_dir = Path((read_json(rec.dir / "status.json") or {})["save_dir"])
    shutil.rmtree(rec.dir)
    psutil.Process(tpid).wait(180)
    assert not rec.dir.exists()  # nobody recreated a headless run folder
    assert len(read_results(save_dir)[1]) == 3  # every epoch trained
    ckpt = read_checkpoint(save_dir / "weights" / "last.pt")
    assert ckpt.metadata is not None  # whole, and stripped by train.py's own ending
    with open(save_dir / "weights" / "last.pt", "rb") as f:
        assert f.read(2) == b"PK"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"mounting a tmpfs is not permitted here: {r.stderr.strip()[:200]}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_is_named_and_the_last_good_checkpoint_kept(yolov5n: Path, data: Path, small_disk: Path) -> None:
    rec = start(yolov5n, data, small_disk, "epoch:1", epochs=3)
    wait_for(lambda: (rec.dir / "paused-epoch:1").exists(), 180, "epoch 1", Path(rec.log))
    save_dir = Path((read_json(rec.dir / "status.json") or {})["save_dir"])
    last = save_dir / "weights" / "last.pt"
    good = hashlib.sha256(last.read_bytes()).hexdigest()
    # fill the disk, leaving room for status/progress files but not for a checkpoint
    st = os.statvfs(small_disk)
    with open(small_disk / "filler", "wb") as f:
        f.write(b"\0" * (st.f_bavail * st.f_frsize - 400_000))
    (rec.dir / "release-epoch:1").write_text("")
    end = wait_end(rec, 120)
    assert end.state == "crashed", end
    assert end.detail.startswith("no space left on tmpfs ("), Path(rec.log).read_text(errors="replace")[-5000:]
    assert hashlib.sha256(last.read_bytes()).hexdigest() == good  # never a truncated last.pt
    assert not [p for p in last.parent.iterdir() if p.name.endswith(".tmp")]
    status = json.loads((rec.dir / "status.json").read_text())
    assert status["phase"] == "failed" and status["ending"] == "crashed"
    assert (read_json(rec.dir / "exit.json") or {})["returncode"] == 1
