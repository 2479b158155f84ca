"""Run records are untrusted input: every damaged field or file is listed as "unreadable record: why".

Each case damages one run's record beside a good run; ``runs`` (plain and --json), ``attach`` and
``find_run`` must stay readable and truthful: the good run listed as it is, the bad one under its
folder name with the reason, no traceback, bounded time. Special files (FIFO, /dev/zero) are tried
in real subprocesses, so a hang is a failed test, not a stuck suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.core.launch_helpers import make_record
from yolofreeze.core.errors import RunNotFoundError, RunRecordError
from yolofreeze.core.training.runs import (
    RunRecord,
    UnreadableRun,
    find_run,
    read_progress,
    scan_runs,
    tail_lines,
    write_json_atomic,
)
from yolofreeze.tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from yolofreeze.tui.cli import entry; entry()"]
BAD = "20260101-120000-bad-00aa"
GOOD = "20260101-110000-good-00bb"


def _edit_run_json(**changes: object) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        data = json.loads((d / "run.json").read_text())
        data.update(changes)
        (d / "run.json").write_text(json.dumps(data))

    return edit


def _drop(field: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        data = json.loads((d / "run.json").read_text())
        del data[field]
        (d / "run.json").write_text(json.dumps(data))

    return edit


def _write(name: str, text: str) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        (d / name).write_text(text)

    return edit


def _truncate(d: Path) -> None:
    raw = (d / "run.json").read_bytes()
    (d / "run.json").write_bytes(raw[: len(raw) // 2])


def _huge(d: Path) -> None:
    data = json.loads((d / "run.json").read_text())
    data["options"] = {"pad": "x" * (3 << 20)}
    (d / "run.json").write_text(json.dumps(data))


def _nested(d: Path) -> None:
    (d / "progress.json").write_text("[" * 10000 + "]" * 10000)


# (case, how the record is damaged, what the reason must say)
FIELD_CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("string pid", _edit_run_json(pid="4242"), "pid is '4242' (text), expected a whole number"),
    ("negative pid", _edit_run_json(pid=-1, pgid=-1), "pid is -1, outside 1.."),
    ("boolean pid", _edit_run_json(pid=True), "pid is True (a boolean)"),
    ("wrong-type timestamp", _edit_run_json(created="yesterday"), "created is 'yesterday' (text), expected a number"),
    ("non-finite timestamp", _edit_run_json(created=float("nan")), "created is nan"),
    ("list create time", _edit_run_json(pid_create_time=[1]), "pid_create_time is [1] (a list)"),
    ("string command", _edit_run_json(command="python train.py"), "command is 'python train.py' (text)"),
    ("numeric log path", _edit_run_json(log=5), "log is 5 (an integer), expected text"),
    ("string flag", _edit_run_json(bn_eval="yes"), "bn_eval is 'yes' (text), expected true or false"),
    (
        "fractional count",
        _edit_run_json(frozen_tensors=1.5),
        "frozen_tensors is 1.5 (a number), expected a whole number",
    ),
    ("overlong name", _edit_run_json(name="n" * 100000), "name is 100000 characters long"),
    ("escape sequence", _edit_run_json(device="\x1b]0;owned\x07"), "which holds control characters"),
    ("foreign process group", _edit_run_json(pgid=1), "pgid 1 is not the supervisor's pid"),
    ("missing field", _drop("pid_create_time"), "pid_create_time is missing"),
    ("renamed folder", _edit_run_json(run_id="someone-else"), "run_id 'someone-else' is not its folder's name"),
    ("truncated run.json", _truncate, "run.json: is not valid JSON"),
    ("empty run.json", _write("run.json", ""), "run.json: is not valid JSON"),
    ("run.json not an object", _write("run.json", "[1, 2]"), "run.json: holds a list, not an object"),
    ("huge run.json", _huge, "over the 1048576-byte limit"),
    ("missing run.json", lambda d: (d / "run.json").unlink(), "run.json is missing"),
    ("status phase", _write("status.json", '{"phase": 5}'), "status.json: phase is 5 (an integer), expected text"),
    ("status save_dir", _write("status.json", '{"phase": "training", "save_dir": ["/x"]}'), "status.json: save_dir is"),
    ("status device", _write("status.json", '{"phase": "x", "devices": [{"uuid": 5}]}'), "devices item 0 uuid is 5"),
    ("status truncated", _write("status.json", '{"phase": "trai'), "status.json: is not valid JSON"),
    ("progress string epoch", _write("progress.json", '{"epoch": "3"}'), "progress.json: epoch is '3' (text)"),
    ("progress losses", _write("progress.json", '{"losses": ["a"]}'), "progress.json: losses item 0 is 'a'"),
    ("progress deep nesting", _nested, "progress.json: is nested too deeply"),
    ("string return code", _write("exit.json", '{"returncode": "1"}'), "exit.json: returncode is '1' (text)"),
    ("return code range", _write("exit.json", '{"returncode": 99999}'), "exit.json: returncode is 99999, outside"),
    ("verify summary", _write("verify.json", '{"summary": {"x": 1}}'), "verify.json: summary is {'x': 1} (an object)"),
    ("stop timestamp", _write("stop.json", '{"requested": "now"}'), "stop.json: requested is 'now' (text)"),
]


def _state(tmp_path: Path, damage: Callable[[Path], None]) -> Path:
    state = tmp_path / "state"
    good = make_record(state, GOOD, log="Epoch 0\nall good\n", created=time.time() - 60)
    write_json_atomic(good.dir / "exit.json", {"returncode": 0})
    write_json_atomic(good.dir / "status.json", {"phase": "done", "ending": "finished", "save_dir": "/x"})
    bad = make_record(state, BAD, log="Epoch 0\n", created=time.time())
    damage(bad.dir)
    return state


@pytest.mark.parametrize(("case", "damage", "why"), FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_each_bad_field_is_listed_with_why(
    case: str,
    damage: Callable[[Path], None],
    why: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = _state(tmp_path, damage)
    monkeypatch.setenv("YOLOFREEZE_STATE_DIR", str(state))

    assert main(["runs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2, out  # newest first: the damaged run (created later), then the good one
    assert out[1].startswith(GOOD) and "finished" in out[1]  # the good run is still listed, truthfully
    assert out[0].startswith(BAD) and "unreadable record: " in out[0] and why in out[0], out[0]
    assert "\x1b" not in out[0]  # a record's escape sequence never reaches the terminal raw

    assert main(["runs", "--json"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["run_id"] for d in docs] == [BAD, GOOD]
    assert docs[1]["state"] == "finished"
    assert docs[0]["state"] == "unreadable" and why in docs[0]["detail"]

    for query in (BAD, "bad-00aa", "latest"):  # the damaged run never vanishes: found, and told why
        assert main(["attach", "--plain", query]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err
        assert err.startswith(f"yolofreeze-tui: run {BAD}: unreadable record: ") and why in err

    assert main(["attach", "--plain", GOOD]) == 0  # the good one still attaches
    assert "all good" in capsys.readouterr().out


def test_a_stop_never_signals_a_damaged_records_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record whose pid is text or whose group is someone else's is refused before any signal."""
    state = _state(tmp_path, _edit_run_json(pgid=os.getpgid(0)))  # pytest's own group
    monkeypatch.setenv("YOLOFREEZE_STATE_DIR", str(state))
    assert main(["stop", BAD]) == 1  # we are still here: nothing was sent to our group
    assert not (state / "runs" / BAD / "stop.json").exists()


def _fifo(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).unlink(missing_ok=True)
        os.mkfifo(d / name)

    return make


def _dev_zero(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).unlink(missing_ok=True)
        (d / name).symlink_to("/dev/zero")

    return make


def _log_at(target: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        if target == "fifo":
            os.mkfifo(d / "log.fifo")
            _edit_run_json(log=str(d / "log.fifo"))(d)
        else:
            _edit_run_json(log=target)(d)

    return make


SPECIAL_CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("run.json FIFO", _fifo("run.json"), "run.json: refused: a FIFO (named pipe)"),
    ("run.json /dev/zero", _dev_zero("run.json"), "run.json: refused: a character device"),
    ("status.json FIFO", _fifo("status.json"), "status.json: refused: a FIFO"),
    ("progress.json /dev/zero", _dev_zero("progress.json"), "progress.json: refused: a character device"),
    ("exit.json FIFO", _fifo("exit.json"), "exit.json: refused: a FIFO"),
    ("verify.json /dev/zero", _dev_zero("verify.json"), "verify.json: refused: a character device"),
    ("log FIFO", _log_at("fifo"), "log.fifo is a FIFO (named pipe), not a regular file"),
    ("log /dev/zero", _log_at("/dev/zero"), "log /dev/zero is a character device, not a regular file"),
]


@pytest.mark.parametrize(("case", "damage", "why"), SPECIAL_CASES, ids=[c[0] for c in SPECIAL_CASES])
def test_special_files_never_hang_or_flood(case: str, damage: Callable[[Path], None], why: str, tmp_path: Path) -> None:
    state = _state(tmp_path, damage)
    env = {**os.environ, "YOLOFREEZE_STATE_DIR": str(state)}
    for args, rc in ((["runs"], 0), (["runs", "--json"], 0), (["attach", "--plain", BAD], 1)):
        t0 = time.monotonic()
        r = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert time.monotonic() - t0 < 30
        assert r.returncode == rc, r.stderr
        assert "Traceback" not in r.stderr and why in r.stdout + r.stderr
        assert len(r.stdout) < 10_000  # nothing of /dev/zero was printed


def test_log_reads_are_bounded_and_refuse_special_files(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    with open(big, "wb") as f:
        f.write(b"x" * (8 << 20) + b"\nlast line\n")
    t0 = time.monotonic()
    assert tail_lines(big, 1) == ["last line"]
    assert time.monotonic() - t0 < 2
    os.mkfifo(tmp_path / "fifo")
    assert tail_lines(tmp_path / "fifo") == []
    assert tail_lines(Path("/dev/zero")) == []


def test_unrelated_live_pid_is_not_taken_for_the_supervisor(tmp_path: Path) -> None:
    """A record naming a live process (with that process's real create time) that was started long
    before the run was recorded: it cannot be the run's supervisor, so the run is never "starting"
    forever, and a stop never signals it."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        ctime = psutil.Process(p.pid).create_time()
        state = tmp_path / "state"
        make_record(state, BAD, pid=p.pid, pid_create_time=ctime, created=ctime + 3600)
        (entry,) = scan_runs(state)
        assert isinstance(entry, UnreadableRun) and entry.record is None
        assert f"pid {p.pid} was started 3600 s before the run was recorded: not its supervisor" in entry.problem
        with pytest.raises(RunRecordError):
            find_run(BAD, state)
        env = {**os.environ, "YOLOFREEZE_STATE_DIR": str(state)}
        r = subprocess.run([*CLI, "stop", BAD], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert r.returncode == 1 and "not its supervisor" in r.stderr
        assert p.poll() is None  # the unrelated process was left alone
    finally:
        p.kill()
        p.wait()


def test_fresh_run_with_no_process_yet_is_readable(tmp_path: Path) -> None:
    """pid_create_time 0 means no process recorded yet: readable, and not alive."""
    make_record(tmp_path, GOOD, pid_create_time=0.0)
    (entry,) = scan_runs(tmp_path)
    assert isinstance(entry, RunRecord) and entry.run_id == GOOD


def test_a_record_from_before_frozen_tensors_still_reads(tmp_path: Path) -> None:
    """Older versions stored the frozen-tensor count as ``frozen``: it reads as frozen_tensors, and
    a save writes the new name only."""
    rec = make_record(tmp_path, GOOD, frozen_tensors=37, frozen_prefixes=("model.0.", "model.1."))
    assert RunRecord.load(rec.dir).frozen_prefixes == ("model.0.", "model.1.")
    data = json.loads((rec.dir / "run.json").read_text())
    data["frozen"] = data.pop("frozen_tensors")
    del data["frozen_prefixes"]
    (rec.dir / "run.json").write_text(json.dumps(data))
    old = RunRecord.load(rec.dir)
    assert (old.frozen_tensors, old.frozen_prefixes) == (37, ())
    old.save()
    saved = json.loads((rec.dir / "run.json").read_text())
    assert saved["frozen_tensors"] == 37 and "frozen" not in saved
    data["frozen"] = 1.5  # the old name keeps its rule, and the message names the key in the file
    (rec.dir / "run.json").write_text(json.dumps(data))
    with pytest.raises(RunRecordError, match=r"frozen is 1\.5"):
        RunRecord.load(rec.dir)


def test_progress_fields_are_checked(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "progress.json", {"epoch": 2, "epochs": 5, "batch": 1, "batches": 4, "losses": [1, 2]})
    assert read_progress(tmp_path).losses == (1.0, 2.0)
    (tmp_path / "progress.json").write_text('{"epoch": "2", "epochs": 5}')
    assert read_progress(tmp_path).epochs == 0  # unreadable: no progress, not a wrong one


def test_not_found_still_exits_7(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _state(tmp_path, _edit_run_json(pid="1"))
    monkeypatch.setenv("YOLOFREEZE_STATE_DIR", str(state))
    with pytest.raises(RunNotFoundError):
        find_run("zzz", state)
    assert main(["attach", "--plain", "zzz"]) == 7


# -- yolofreeze-tui stop RUN ---------------------------------------------------------------------


def test_stop_command_stops_a_real_process_group_then_says_it_had_ended(tmp_path: Path) -> None:
    """A real sleeping process group (supervisor + child) recorded as a run: stop ends both."""
    code = (
        "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print(c.pid, flush=True); time.sleep(60)"
    )
    p = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        child = psutil.Process(int(p.stdout.readline()))
        import threading

        threading.Thread(target=p.wait, daemon=True).start()  # reaped, as the launcher's thread does
        rec = make_record(tmp_path, GOOD, pid=p.pid, pid_create_time=psutil.Process(p.pid).create_time())
        env = {**os.environ, "YOLOFREEZE_STATE_DIR": str(tmp_path)}
        t0 = time.monotonic()
        r = subprocess.run([*CLI, "stop", "good-00bb"], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"run {GOOD} stopped (after SIGINT): stopped") and time.monotonic() - t0 < 20
        child.wait(10)  # the whole group got the signal, not just the supervisor
        assert (rec.dir / "stop.json").is_file()

        again = subprocess.run([*CLI, "stop", GOOD], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert again.returncode == 0 and again.stdout.startswith(f"run {GOOD} had already ended: stopped")

        none = subprocess.run([*CLI, "stop", "zzz"], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        assert none.returncode == 7 and none.stderr.startswith("yolofreeze-tui: no run matches 'zzz'")
    finally:
        if p.poll() is None:
            p.kill()


def test_log_follower_can_start_near_the_end_of_a_huge_log(tmp_path: Path) -> None:
    from yolofreeze.core.training.runs import LogFollower

    log = tmp_path / "train.log"
    with open(log, "wb") as f:
        for i in range(200_000):
            f.write(b"line %d\n" % i)
    f_tail = LogFollower(log, tail_bytes=1000)
    assert 0 < f_tail.skipped < log.stat().st_size
    lines = f_tail.read()
    assert lines[-1] == "line 199999" and len(lines) < 200 and lines[0].startswith("line 1")  # no cut line
    assert int(lines[0].split()[1]) == int(lines[1].split()[1]) - 1
    with open(log, "ab") as fh:
        fh.write(b"new\n")
    assert f_tail.read() == ["new"]
    assert LogFollower(tmp_path / "fifo-less", tail_bytes=10).read() == []


def test_a_folder_name_with_escape_sequences_is_shown_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "runs" / "evil\x1b[2Jname").mkdir(parents=True)
    monkeypatch.setenv("YOLOFREEZE_STATE_DIR", str(tmp_path))
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "evil\\x1b[2Jname" in out and "unreadable record: run.json is missing" in out
