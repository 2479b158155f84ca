"""A queue of runs, one per freeze plan, trained one after another by a detached process.

One folder per queue under ``<state dir>/queues/<queue id>/``: ``queue.json`` (what to run,
written once before anything starts), ``plan-N.txt`` (member N's frozen names), ``members.json``
(each member's run id and state, rewritten atomically as the queue moves on), ``process.json``
(the queue process's pid and create time, written before it is told to begin), ``stop.json``
(a stop was asked for) and ``queue.log``.

Each member is an ordinary run started through ``training.launch.launch``: attachable,
stoppable, and checked for frozen weights by its own runner. The queue process only starts the
next member when the previous one has ended, so it adds a poll interval between runs and
nothing inside them. Stopping the queue stops the current member and skips the rest;
``resume`` starts a new queue process on the same folder, which keeps finished members and
runs the others again from the start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolofreeze.core.errors import RunNotFoundError, RunRecordError, TrainingError, YoloFreezeError
from yolofreeze.core.safeio import read_limited, write_atomic
from yolofreeze.core.training import records
from yolofreeze.core.training.records import RecordError
from yolofreeze.core.training.runs import (
    RunRecord,
    RunStatus,
    find_run,
    new_run_id,
    process_state,
    run_status,
    state_dir,
    stop_run,
)

POLL = 1.0  # seconds between looks at the current member: the only time the queue adds
MEMBER_STATES = ("pending", "starting", "running", "finished", "stopped", "oom", "crashed", "refused", "skipped")
DONE = ("finished",)
PLAN_LIMIT = 16 << 20

_QUEUE_SCHEMA: dict[str, records.Checker] = {
    "queue_id": records.text(records.MAX_NAME, allow_empty=False),
    "created": records.TIMESTAMP,
    "checkpoint": records.text(records.MAX_PATH),
    "data": records.text(records.MAX_PATH),
    "plans": records.list_of(records.text(records.MAX_NAME, allow_empty=False), 64),
    "options": records.mapping(),
}
_MEMBER = records.object_of(
    {
        "plan": records.text(records.MAX_NAME, allow_empty=False),
        "run_id": records.optional(records.text(records.MAX_NAME)),
        "state": records.text(32),
        "detail": records.optional(records.text(records.MAX_TEXT)),
    }
)
_MEMBERS_SCHEMA: dict[str, records.Checker] = {
    "phase": records.text(32),
    "members": records.list_of(_MEMBER, 64),
}
_PROCESS_SCHEMA: dict[str, records.Checker] = {"pid": records.PID, "create_time": records.TIMESTAMP}


@dataclass(frozen=True)
class Member:
    plan: str
    run_id: str | None = None
    state: str = "pending"
    detail: str | None = None


@dataclass(frozen=True)
class QueueView:
    """What is on disk about one queue, as any process reads it."""

    queue_id: str
    dir: Path
    created: float
    checkpoint: str
    data: str
    plans: tuple[str, ...]
    options: dict[str, Any]
    phase: str  # waiting, running, done, stopped
    members: tuple[Member, ...]
    alive: bool  # the queue process is running

    @property
    def current(self) -> Member | None:
        return next((m for m in self.members if m.state in ("starting", "running")), None)


def queues_root(state: Path | None = None) -> Path:
    return state_dir(state) / "queues"


def _write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=1, default=str) + "\n")


def _load(path: Path, schema: dict[str, records.Checker]) -> dict[str, Any]:
    try:
        data = records.load_record_file(path, schema)
    except RecordError as e:
        raise RunRecordError(f"queue {path.parent.name}: unreadable record: {e}") from None
    if data is None:
        raise RunRecordError(f"queue {path.parent.name}: {path.name} is missing")
    return data


def _members(qdir: Path) -> tuple[str, list[Member]]:
    data = _load(qdir / "members.json", _MEMBERS_SCHEMA)
    out = []
    for m in data.get("members", []):
        state = m.get("state") if m.get("state") in MEMBER_STATES else "pending"
        out.append(Member(m["plan"], m.get("run_id") or None, state, m.get("detail")))
    return str(data.get("phase", "waiting")), out


def _save_members(qdir: Path, phase: str, members: list[Member]) -> None:
    _write_json(qdir / "members.json", {"phase": phase, "members": [m.__dict__ for m in members]})


def queue_process_alive(qdir: Path) -> bool:
    try:
        proc = records.load_record_file(qdir / "process.json", _PROCESS_SCHEMA)
    except RecordError:
        return False
    if not proc:
        return False
    return process_state(proc.get("pid"), proc.get("create_time")) in ("alive", "paused")


def load_queue(qdir: Path) -> QueueView:
    spec = _load(qdir / "queue.json", _QUEUE_SCHEMA)
    if spec["queue_id"] != qdir.name:
        raise RunRecordError(f"queue {qdir.name}: queue.json names another queue ({spec['queue_id']!r})")
    phase, members = _members(qdir)
    return QueueView(
        queue_id=qdir.name,
        dir=qdir,
        created=spec["created"],
        checkpoint=spec["checkpoint"],
        data=spec["data"],
        plans=tuple(spec["plans"]),
        options=dict(spec["options"]),
        phase=phase,
        members=tuple(members),
        alive=queue_process_alive(qdir),
    )


def find_queue(query: str, state: Path | None = None) -> Path:
    """A queue's folder by id, unique id prefix, or ``latest``; RunNotFoundError otherwise."""
    root = queues_root(state)
    try:
        names = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError:
        names = []
    if not names:
        raise RunNotFoundError(f"no recorded queues in {root}")
    hits = (
        [names[-1]]
        if query in ("latest", "last")
        else ([n for n in names if n == query] or [n for n in names if n.startswith(query)])
    )
    if not hits:
        raise RunNotFoundError(f"no queue matches {query!r}")
    if len(hits) > 1:
        raise RunNotFoundError(f"{query!r} matches {len(hits)} queues: {', '.join(hits[:4])} …")
    return root / hits[0]


def member_records(view: QueueView) -> list[tuple[Member, RunRecord | None]]:
    out: list[tuple[Member, RunRecord | None]] = []
    for m in view.members:
        rec = None
        if m.run_id:
            with contextlib.suppress(YoloFreezeError):
                rec = find_run(m.run_id, view.dir.parent.parent)
        out.append((m, rec))
    return out


def create_queue(
    checkpoint: str,
    data: str,
    plans: list[tuple[str, frozenset[str]]],
    options: dict[str, Any],
    state: Path | None = None,
) -> Path:
    """The queue's folder with everything the queue process needs; nothing is started yet."""
    qid = new_run_id("compare")
    qdir = queues_root(state) / qid
    qdir.mkdir(parents=True, exist_ok=False)
    for i, (_, frozen) in enumerate(plans):
        write_atomic(qdir / f"plan-{i}.txt", "".join(n + "\n" for n in sorted(frozen)))
    _write_json(
        qdir / "queue.json",
        {
            "queue_id": qid,
            "created": time.time(),
            "checkpoint": str(Path(checkpoint).resolve()),
            "data": str(Path(data).resolve()),
            "plans": [label for label, _ in plans],
            "options": options,
        },
    )
    _save_members(qdir, "waiting", [Member(label) for label, _ in plans])
    return qdir


def start_queue_process(qdir: Path, python: str = sys.executable, env: dict[str, str] | None = None) -> int:
    """Start the detached queue process; it is on record (process.json) before it begins anything."""
    import psutil

    log = qdir / "queue.log"
    with open(log, "ab") as logf:
        try:
            proc = subprocess.Popen(
                [python, "-m", "yolofreeze.core.compare.queue", "run", str(qdir)],
                stdin=subprocess.PIPE,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # no SIGHUP when the terminal closes; its own process group
                close_fds=True,
                env={**os.environ, **(env or {})},
            )
        except OSError as e:
            raise TrainingError(f"could not start the queue process: {e}") from None
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        created = time.time()
    try:
        _write_json(qdir / "process.json", {"pid": proc.pid, "create_time": created})
    except OSError as e:
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # EOF without "go": it starts nothing
        raise TrainingError(f"could not record the queue process: {e}; nothing was started") from None
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    return proc.pid


def request_stop(qdir: Path) -> str:
    """stop.json for the queue process, and the current member stopped at once (even if the queue
    process is gone); returns a line saying what was stopped."""
    _write_json(qdir / "stop.json", {"requested": time.time()})
    view = load_queue(qdir)
    current = view.current
    if current is None or not current.run_id:
        return f"queue {view.queue_id}: stop recorded; no member was training"
    stop_run(find_run(current.run_id, qdir.parent.parent))
    if not view.alive:  # nobody else will record the rest
        _finish_stopped(qdir)
    return f"queue {view.queue_id}: stopped {current.plan} (run {current.run_id}); the rest are skipped"


def _finish_stopped(qdir: Path) -> None:
    _, members = _members(qdir)
    out = []
    for m in members:
        if m.state in ("pending", "starting", "running"):
            rec_state = _ended_state(qdir, m)
            m = Member(m.plan, m.run_id, rec_state or "skipped", m.detail)
        out.append(m)
    _save_members(qdir, "stopped", out)


def _ended_state(qdir: Path, m: Member) -> str | None:
    if not m.run_id:
        return None
    try:
        st = run_status(find_run(m.run_id, qdir.parent.parent))
    except YoloFreezeError:
        return None
    return st.state if st.ended else None


def prepare_resume(qdir: Path) -> QueueView:
    """Members that did not finish go back to pending; RunRecordError when the queue still runs."""
    view = load_queue(qdir)
    if view.alive:
        raise RunRecordError(f"queue {view.queue_id} is still running; nothing to resume")
    with contextlib.suppress(FileNotFoundError):
        (qdir / "stop.json").unlink()
    members = []
    for m in view.members:
        ended = _ended_state(qdir, m) if m.state in ("starting", "running") else m.state
        if ended is None:  # its run is still training: the new queue process waits for it
            members.append(m)
        else:
            members.append(m if ended in DONE else Member(m.plan))
    _save_members(qdir, "waiting", members)
    return load_queue(qdir)


# The queue process


class _Stop:
    def __init__(self, qdir: Path) -> None:
        self.qdir = qdir
        self.signalled = False

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signalled = True

    @property
    def requested(self) -> bool:
        return self.signalled or (self.qdir / "stop.json").exists()


def _member_options(view: QueueView, index: int) -> Any:
    from yolofreeze.core.training.launch import LaunchOptions

    names = read_limited(view.dir / f"plan-{index}.txt", PLAN_LIMIT).decode("utf-8").split()
    known = LaunchOptions.__dataclass_fields__
    kw = {k: v for k, v in view.options.items() if k in known}
    kw.update(checkpoint=view.checkpoint, data=view.data, frozen=frozenset(names), name=_safe_name(view.plans[index]))
    if "extra_env" in kw:
        kw["extra_env"] = {str(k): str(v) for k, v in dict(kw["extra_env"]).items()}
    return LaunchOptions(**kw)


def _safe_name(plan: str) -> str:
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in plan).strip(".") or "plan"
    return name[:64]


def _start_member(qdir: Path, view: QueueView, members: list[Member], i: int, state: Path) -> RunRecord | None:
    """The member's run: the one still training (a resumed queue), or a new launch; None when
    refused (the member's state says why)."""
    from yolofreeze.core.training.launch import launch

    m = members[i]
    if m.run_id and m.state in ("starting", "running"):
        with contextlib.suppress(YoloFreezeError):
            return find_run(m.run_id, state)  # resumed while this member still trains
    try:
        opts = _member_options(view, i)
    except (OSError, UnicodeDecodeError, TypeError) as e:
        members[i] = Member(m.plan, None, "refused", f"plan-{i}.txt: {e}"[:300])
        _save_members(qdir, "running", members)
        return None

    def recorded(rec: RunRecord) -> None:
        members[i] = Member(m.plan, rec.run_id, "starting")
        _save_members(qdir, "running", members)

    try:
        return launch(opts, state=state, on_record=recorded)
    except YoloFreezeError as e:
        members[i] = Member(m.plan, members[i].run_id, "refused", e.message[:300])
        _save_members(qdir, "running", members)
        return None


def _follow(record: RunRecord, stop: _Stop, poll: float, sleep: Callable[[float], None]) -> RunStatus:
    """Wait for the member to end; a stop request stops it first."""
    while True:
        st = run_status(record)
        if st.ended:
            return st
        if stop.requested:
            stop_run(record)
            return run_status(record)
        sleep(poll)


def run_queue(qdir: Path, poll: float = POLL, sleep: Callable[[float], None] = time.sleep) -> int:
    """The queue process's body: each pending member in turn, until done or stopped."""
    stop = _Stop(qdir)
    stop.install()
    state = qdir.parent.parent
    view = load_queue(qdir)
    members = list(view.members)
    _save_members(qdir, "running", members)
    for i, m in enumerate(members):
        if m.state in DONE or m.state == "refused":
            continue
        if stop.requested:
            break
        record = _start_member(qdir, view, members, i, state)
        if record is None:
            continue
        members[i] = Member(m.plan, record.run_id, "running")
        _save_members(qdir, "running", members)
        print(f"queue: {m.plan}: run {record.run_id} started", flush=True)
        st = _follow(record, stop, poll, sleep)
        members[i] = Member(m.plan, record.run_id, st.state if st.ended else "stopped", st.detail[:300] or None)
        _save_members(qdir, "running", members)
        print(f"queue: {m.plan}: {members[i].state}", flush=True)
    if stop.requested:
        members = [
            x if x.state not in ("pending", "starting", "running") else Member(x.plan, x.run_id, "skipped")
            for x in members
        ]
        _save_members(qdir, "stopped", members)
        print("queue: stopped", flush=True)
        return 130
    _save_members(qdir, "done", members)
    print("queue: done", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "run":
        print("usage: python -m yolofreeze.core.compare.queue run QUEUE_DIR", file=sys.stderr)
        return 2
    qdir = Path(argv[1])
    line = sys.stdin.readline()  # the starter's "go", sent once process.json is on disk
    if line.strip() != "go":
        return 0
    sys.stdin.close()
    with contextlib.suppress(OSError):  # never read the terminal later
        os.close(0)
        os.open(os.devnull, os.O_RDONLY)
    return run_queue(qdir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
