"""The supervisor and liveness with real processes but no training: go/no-go, trainer.json, lost
supervisor, SIGKILL classification, best-effort writes, atomic torch.save on a full disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.core.launch_helpers import make_record
from tests.waiting import wait_for
from yolofreeze.core.training.child.runner import BestEffortWriter, cgroup_oom_kills, oom_evidence
from yolofreeze.core.training.runs import RunRecord, classify_ending, process_state, run_status, stop_run

ROOT = Path(__file__).resolve().parents[2]


def start_supervisor(run_dir: Path, trainer_code: str, go: bool = True) -> subprocess.Popen[bytes]:
    """`python -m yolofreeze.core.training.child.runner supervise` as the launcher starts it,
    with a stand-in trainer."""
    (run_dir / "config.json").write_text(json.dumps({"train_command": [sys.executable, "-c", trainer_code]}))
    p = subprocess.Popen(
        [sys.executable, "-m", "yolofreeze.core.training.child.runner", "supervise", str(run_dir)],
        stdin=subprocess.PIPE,
        stdout=open(run_dir / "train.log", "ab"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )
    assert p.stdin is not None
    if go:
        p.stdin.write(b"go\n")
    p.stdin.close()
    return p


def record_for(tmp_path: Path, run_id: str, p: subprocess.Popen[bytes]) -> RunRecord:
    rec = make_record(tmp_path, run_id, pid=p.pid)
    rec = RunRecord(**{**rec.__dict__, "pid_create_time": psutil.Process(p.pid).create_time()})
    rec.save()
    return rec


def test_no_go_from_the_launcher_starts_nothing(tmp_path: Path) -> None:
    """The launcher died between starting the supervisor and its go: no unrecorded training."""
    rec = make_record(tmp_path, "nogo")
    d = rec.dir
    marker = tmp_path / "trained"
    p = start_supervisor(d, f"open({str(marker)!r}, 'w')", go=False)
    assert p.wait(20) == 0
    assert not marker.exists() and not (d / "trainer.json").exists()
    assert "nothing started" in (d / "train.log").read_text()
    st = run_status(rec)
    assert st.state == "crashed" and st.detail == "never started: the launcher was gone before it sent the go"


def test_sigkill_nobody_asked_for_is_told_apart_from_a_stop(tmp_path: Path) -> None:
    d = tmp_path / "runs" / "k"
    d.mkdir(parents=True)
    p = start_supervisor(d, "import os; os.kill(os.getpid(), 9)")
    rec = record_for(tmp_path, "k2", p)
    assert p.wait(20) == 0
    exit_info = json.loads((d / "exit.json").read_text())
    assert exit_info["returncode"] == -9 and "oom" in exit_info  # evidence looked for, recorded
    rec = RunRecord(**{**rec.__dict__, "run_dir": str(d), "log": str(d / "train.log")})
    st = run_status(rec)
    if exit_info["oom"] is None:  # the usual case on a healthy machine: no sign of memory trouble
        assert st.state == "crashed" and "SIGKILL, not from a stop" in st.detail
    else:
        assert st.state == "oom"


def test_oom_evidence_is_only_what_was_observed() -> None:
    assert oom_evidence(0, 1, {}) == "the memory cgroup's oom_kill count rose from 0 to 1"
    gib = 2**30
    assert "98% used" in (oom_evidence(None, None, {"total": 100 * gib, "available": 2 * gib, "rss": 90 * gib}) or "")
    assert oom_evidence(3, 3, {"total": 100 * gib, "available": 50 * gib}) is None
    e, d = classify_ending([], -9, False, None, "the memory cgroup's oom_kill count rose from 0 to 1")
    assert e == "oom" and d.startswith("killed by the kernel, likely out of host memory")
    # our own SIGKILL (the stop's last resort) is a stop, whatever memory looked like
    assert classify_ending([], -9, True, None, "host memory was 99% used")[0] == "stopped"
    assert classify_ending([], -9, False)[0] == "crashed"
    kills = cgroup_oom_kills()
    assert kills is None or kills >= 0


def test_lost_supervisor_then_stop_reaches_the_trainer(tmp_path: Path) -> None:
    d = tmp_path / "runs" / "lost"
    d.mkdir(parents=True)
    # The supervisor starts the trainer with SIGINT ignored (the real runner watches stop.json until
    # its handlers are in); this stand-in says when its handler is in, so the SIGINT cannot land first.
    ready = d / "handler-in"
    trainer = (
        "import signal, sys, time\nsignal.signal(signal.SIGINT, lambda *a: sys.exit(130))\n"
        f"open({str(ready)!r}, 'w').close()\ntime.sleep(60)\n"
    )
    p = start_supervisor(d, trainer)
    rec = record_for(tmp_path, "lost-rec", p)
    rec = RunRecord(**{**rec.__dict__, "run_dir": str(d), "log": str(d / "train.log")})
    wait_for(lambda: (d / "trainer.json").is_file(), what="trainer.json")
    tpid = json.loads((d / "trainer.json").read_text())["pid"]
    wait_for(ready.is_file, what="the stand-in trainer's SIGINT handler")
    assert run_status(rec).state == "starting"
    os.kill(p.pid, signal.SIGKILL)
    p.wait(5)
    st = run_status(rec)
    assert st.alive and st.detail == f"supervisor lost — training still running (pid {tpid})"
    # SIGSTOP: the trainer is there but not running
    os.kill(tpid, signal.SIGSTOP)
    wait_for(lambda: run_status(rec).state == "paused", what="paused")
    assert "supervisor lost" in run_status(rec).detail
    # the stop signals the group the trainer is in (SIGCONT too, or a paused trainer never sees it)
    assert stop_run(rec, grace_int=10) == "SIGINT"
    assert process_state(tpid, json.loads((d / "trainer.json").read_text())["create_time"]) == "gone"
    st = run_status(rec)
    assert st.state == "stopped" and not st.alive


def test_a_live_pid_with_another_create_time_is_not_our_run() -> None:
    me = psutil.Process()
    assert process_state(os.getpid(), me.create_time()) == "alive"
    assert process_state(os.getpid(), me.create_time() - 3600) == "gone"
    assert process_state("12", 0.0) == "gone" and process_state(True, 0.0) == "gone"


def test_best_effort_writer_logs_once_and_never_raises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "run"
    d.mkdir()
    w = BestEffortWriter(d)
    assert w.write("progress.json", {"a": 1})
    os.rename(d, tmp_path / "gone")  # the user deleted (moved) the run folder mid-run
    assert not w.write("progress.json", {"a": 2}) and not w.write("progress.json", {"a": 3})
    assert not d.exists()  # not recreated as a headless folder
    out = capsys.readouterr().out
    assert out.count("could not write progress.json") == 1 and "training goes on" in out


def test_atomic_torch_save_keeps_the_old_file_on_a_full_disk(tmp_path: Path) -> None:
    """A real tmpfs filled to the brim: torch.save fails, the previous last.pt is intact, ENOSPC named."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here (needs root)")
    try:
        code = (
            "import hashlib, os, sys, torch\n"
            "from yolofreeze.core.training.child.offline import atomic_torch_save\n"
            "from yolofreeze.core.safeio import no_space_message\n"
            "atomic_torch_save()\n"
            "last = sys.argv[1] + '/last.pt'\n"
            "torch.save({'w': torch.ones(256, 1024)}, last)\n"  # 1 MiB: fits
            "good = hashlib.sha256(open(last, 'rb').read()).hexdigest()\n"
            "st = os.statvfs(sys.argv[1])\n"
            "open(sys.argv[1] + '/filler', 'wb').write(b'x' * (st.f_bavail * st.f_frsize - 300_000))\n"
            "try:\n"
            "    torch.save({'w': torch.ones(1024, 1024)}, last)\n"  # 4 MiB: does not
            "except OSError as e:\n"
            "    print(no_space_message(e))\n"
            "print(hashlib.sha256(open(last, 'rb').read()).hexdigest() == good)\n"
            "print(sorted(os.listdir(sys.argv[1])))\n"
        )
        p = subprocess.run(
            [sys.executable, "-c", code, str(mnt)], capture_output=True, text=True, cwd=ROOT, timeout=120
        )
        assert p.returncode == 0, p.stderr[-2000:]
        lines = p.stdout.splitlines()
        assert lines[0] == f"no space left on tmpfs ({mnt}/last.pt)"
        assert lines[1] == "True" and lines[2] == "['filler', 'last.pt']"  # no temp file left behind
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
