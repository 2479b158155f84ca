"""Run records, endings and stop escalation, without training (real processes where it matters)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.core import launch_helpers
from yolofreeze.core.errors import RunNotFoundError
from yolofreeze.core.training.runs import (
    LogFollower,
    RunRecord,
    classify_ending,
    clean_log_lines,
    find_run,
    list_runs,
    read_results,
    run_status,
    stop_run,
    write_json_atomic,
)

TORCH_OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
    "capacity of 79.19 GiB of which 1.06 GiB is free. Including non-PyTorch memory, this process has "
    "78.12 GiB memory in use. Of the allocated memory 75.30 GiB is allocated by PyTorch, and 1.32 GiB "
    "is reserved by PyTorch but unallocated."
)


def make_record(root: Path, run_id: str, pid: int = 999999, created: float = 0.0, log: str = "") -> RunRecord:
    return launch_helpers.make_record(root, run_id, log=log, pid=pid, created=created or time.time())


def test_oom_classified_from_torchs_exact_text() -> None:
    lines = ["Traceback (most recent call last):", '  File "train.py", line 1', TORCH_OOM]
    ending, detail = classify_ending(lines, 1, False)
    assert ending == "oom" and detail.startswith("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate")
    # a stop asked for while it was dying of OOM still reads OOM
    assert classify_ending(lines, -9, True)[0] == "oom"


def test_other_endings() -> None:
    assert classify_ending(["done"], 0, False, "finished") == ("finished", "training completed")
    assert classify_ending(["x"], 130, True, "stopped")[0] == "stopped"
    e, d = classify_ending(["Traceback", "KeyError: 'momentum'"], 1, False, "crashed")
    assert e == "crashed" and "exit code 1" in d and "KeyError" in d
    assert classify_ending([], -9, False)[1].startswith("killed by signal 9")
    assert classify_ending([], None, False)[1] == "process gone without an exit record"


def test_tqdm_redraws_collapse() -> None:
    text = "a\n  0%| 0/2\r 50%| 1/2\r100%| 2/2\nb\n"
    assert clean_log_lines(text) == ["a", "100%| 2/2", "b"]


def test_log_follower_reads_whole_lines_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("first\nsec")
    f = LogFollower(log)
    assert f.read() == ["first"]
    with open(log, "a") as fh:
        fh.write("ond\r2nd\nthird")
    assert f.read() == ["2nd"]
    assert f.rest() == ["third"]


def test_find_and_list(tmp_path: Path) -> None:
    a = make_record(tmp_path, "20261130-100000-a-0001", created=1.0)
    b = make_record(tmp_path, "20261130-110000-b-0002", created=2.0)
    assert [r.run_id for r in list_runs(tmp_path)] == [a.run_id, b.run_id]
    assert find_run("latest", tmp_path).run_id == b.run_id
    assert find_run("-a-", tmp_path).run_id == a.run_id
    with pytest.raises(RunNotFoundError):
        find_run("2026", tmp_path)
    with pytest.raises(RunNotFoundError):
        find_run("zzz", tmp_path)


def test_status_of_dead_runs(tmp_path: Path) -> None:
    rec = make_record(tmp_path, "r1", log="Epoch\n" + TORCH_OOM + "\n")
    write_json_atomic(rec.dir / "exit.json", {"returncode": 1})
    st = run_status(rec)
    assert st.state == "oom" and not st.alive and TORCH_OOM in st.last_lines
    rec2 = make_record(tmp_path, "r2", log="all good\n")
    write_json_atomic(rec2.dir / "status.json", {"phase": "done", "ending": "finished", "save_dir": "/x"})
    write_json_atomic(rec2.dir / "exit.json", {"returncode": 0})
    st2 = run_status(rec2)
    assert st2.state == "finished" and st2.save_dir == "/x"
    # pid alive per the check but no progress yet: starting
    rec3 = make_record(tmp_path, "r3")
    assert run_status(rec3, alive_check=lambda p, t: True).state == "starting"


def test_results_csv_with_padded_headers(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_text(
        "               epoch,      train/box_loss,     metrics/mAP_0.5\n"
        "                   0,             0.08,       0.001\n"
        "                   1,             0.07,       0.0\n"
    )
    head, rows = read_results(tmp_path)
    assert head == ["epoch", "train/box_loss", "metrics/mAP_0.5"] and rows[1] == [1.0, 0.07, 0.0]
    assert read_results(tmp_path / "none") == ([], [])


def test_stop_escalates_to_sigkill_on_a_stubborn_process_group(tmp_path: Path) -> None:
    import psutil

    code = (
        "import signal, subprocess, sys, time; signal.signal(2, signal.SIG_IGN); signal.signal(15, signal.SIG_IGN);"
        "c = subprocess.Popen([sys.executable, '-c', 'import signal,time; signal.signal(2, signal.SIG_IGN);"
        "signal.signal(15, signal.SIG_IGN); time.sleep(120)']); print('ready', flush=True); time.sleep(120)"
    )
    p = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    child = psutil.Process(p.pid).children()[0]
    rec = make_record(tmp_path, "stubborn", pid=p.pid)
    rec = RunRecord(**{**rec.__dict__, "pid_create_time": psutil.Process(p.pid).create_time()})
    t0 = time.monotonic()
    assert stop_run(rec, grace_int=0.5, grace_term=0.5) == "SIGKILL"
    assert time.monotonic() - t0 < 5
    p.wait(5)
    assert p.returncode == -9
    child.wait(5)
    assert not child.is_running()
    assert run_status(rec).state == "stopped"


def test_stop_sends_sigint_first(tmp_path: Path) -> None:
    import psutil

    p = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stdout.readline()
    rec = make_record(tmp_path, "polite", pid=p.pid)
    rec = RunRecord(**{**rec.__dict__, "pid_create_time": psutil.Process(p.pid).create_time()})
    import threading

    threading.Thread(target=p.wait, daemon=True).start()  # reap it, as the launcher's thread does
    assert stop_run(rec, grace_int=5) == "SIGINT"
    assert os.path.exists(rec.dir / "stop.json")
