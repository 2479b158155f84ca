"""Run records on disk: what was launched, whether it is alive, how it ended, its log and results.

One folder per run under ``<state dir>/runs/<run id>/``:
``run.json`` (written once by the launcher), ``status.json`` (the runner's phase and save_dir),
``progress.json`` (epoch/batch, newest only), ``exit.json`` (the supervisor's record of the exit
code), ``trainer.json`` (the training process's pid, process group and create time, written by
the supervisor when it starts it), ``stop.json`` (a stop was asked for; the trainer watches it),
``train.log`` (stdout+stderr from the start), and ``verify.json`` (the after-run check of the
frozen weights). status.json also carries the trainer's own ending, so a run whose supervisor
was killed still ends recorded. Any process can read them, so a
TUI started after an SSH drop sees the same run as the one that launched it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any

from yolofreeze.core.errors import RunNotFoundError, RunRecordError
from yolofreeze.core.safeio import open_regular, read_limited, tail_bytes
from yolofreeze.core.training import records
from yolofreeze.core.training.records import RecordError

OOM_MARKERS = (
    "CUDA out of memory",
    "OutOfMemoryError",
    "CUBLAS_STATUS_ALLOC_FAILED",
    "CUDNN_STATUS_ALLOC_FAILED",
    "HIP out of memory",
)
ENDINGS = ("finished", "stopped", "oom", "crashed")


def state_dir(override: Path | None = None) -> Path:
    if override is not None:
        return Path(override)
    env = os.environ.get("YOLOFREEZE_STATE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_state_dir

    return Path(user_state_dir("yolofreeze-tui"))


def runs_root(override: Path | None = None) -> Path:
    return state_dir(override) / "runs"


def write_json_atomic(path: Path, data: Any) -> None:
    """Readers poll these files; a rename means they never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, default=str)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> dict[str, Any] | None:
    """A record file's fields, checked against its schema (yolofreeze.core.training.records); None if absent or bad.

    Bounded, never blocks on a FIFO, never follows /dev/zero: see ``records.load_record_file``.
    Use ``record_problem`` to say *why* a run's files are unreadable.
    """
    try:
        return records.load_record_file(path)
    except RecordError:
        return None


@dataclass(frozen=True)
class RunRecord:
    """What the launcher wrote: enough to find, follow, stop and check the run later."""

    run_id: str
    run_dir: str
    created: float
    checkpoint: str
    checkpoint_sha256: str
    data: str
    command: tuple[str, ...]
    cwd: str
    pid: int  # the supervisor: session leader, its pid is the process group id
    pgid: int
    pid_create_time: float  # tells a live run from a reused pid
    log: str
    project: str
    name: str
    device: str
    gpus: int
    frozen_tensors: int  # parameter tensors the plan freezes (frozen.txt names each one)
    bn_eval: bool
    options: dict[str, Any] = field(default_factory=dict)
    # the plan as train.py-style name prefixes ("model.0.", …, or single names); () in records
    # written before it existed, or when the list would be too long to keep here
    frozen_prefixes: tuple[str, ...] = ()
    predicted_reserved: int | None = None  # bytes, torch reserved, from yolofreeze.core.memory
    predicted_nvidia_smi: int | None = None  # bytes, what NVML / nvidia-smi would show
    # what the figures were computed for (batch, img, GPUs …) and the step and whole-run figures
    prediction: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return Path(self.run_dir)

    @staticmethod
    def load(run_dir: Path) -> RunRecord:
        """The record in ``run_dir``; RunRecordError (one line) when run.json is missing or bad."""
        try:
            data = records.load_record_file(run_dir / "run.json", {})
            if data is None:
                raise RecordError("run.json is missing")
            return RunRecord._from_checked(run_dir, data)
        except RecordError as e:
            raise RunRecordError(f"run {run_dir.name}: unreadable record: {e}") from None

    @staticmethod
    def _from_checked(run_dir: Path, data: dict[str, Any]) -> RunRecord:
        fields = RunRecord.__dataclass_fields__
        schema = dict(_RUN_SCHEMA)
        for name, f in fields.items():  # a field added later is still type-checked
            if name not in schema:
                check = records.checker_for_annotation(str(f.type))
                if check is None:
                    raise TypeError(f"RunRecord.{name}: no record check for {f.type!r}")  # a bug, not a user error
                schema[name] = check
        required = frozenset(n for n, f in fields.items() if f.default is MISSING and f.default_factory is MISSING)
        renamed = {old: new for old, new in _RENAMED.items() if old in data and new not in data}
        try:
            checked = records.check_fields(data, schema | _RENAMED_SCHEMA, required - {"run_dir", *renamed.values()})
        except RecordError as e:
            raise RecordError(f"run.json: {e}") from None
        for old_name, new_name in renamed.items():  # a record from an older version reads as a new one
            checked[new_name] = checked.pop(old_name)
        if checked["run_id"] != run_dir.name:
            raise RecordError(f"run.json: run_id {checked['run_id']!r} is not its folder's name")
        if checked["pgid"] != checked["pid"]:
            # the supervisor leads its own session: any other group would be someone else's processes
            raise RecordError(f"run.json: pgid {checked['pgid']} is not the supervisor's pid {checked['pid']}")
        ctime, created = checked["pid_create_time"], checked["created"]
        if ctime > 0 and ctime < created - SUPERVISOR_SLACK:
            # 0 means no process was recorded yet; a process far older than the run is not its supervisor
            raise RecordError(
                f"run.json: pid {checked['pid']} was started {created - ctime:.0f} s before the run was "
                "recorded: not its supervisor"
            )
        checked["command"] = tuple(checked.get("command", ()))
        checked["frozen_prefixes"] = tuple(checked.get("frozen_prefixes", ()))
        # where the record actually is, not where it says it is (a moved state dir, a copied record)
        checked["run_dir"] = str(run_dir)
        return RunRecord(**{k: v for k, v in checked.items() if k in fields})

    def save(self) -> None:
        write_json_atomic(self.dir / "run.json", asdict(self))


# Fields older records store under another name (read old, write new), and their rules.
_RENAMED = {"frozen": "frozen_tensors"}
_RENAMED_SCHEMA: dict[str, records.Checker] = {"frozen": records.COUNT}
# Far more than a whole-layer plan needs (one per layer); a plan that needs more is in frozen.txt.
MAX_RECORDED_PREFIXES = 1000

# A supervisor is started and recorded within moments of each other; allow for a slow machine.
SUPERVISOR_SLACK = 120.0

_RUN_SCHEMA: dict[str, records.Checker] = {
    "run_id": records.text(records.MAX_NAME, allow_empty=False),
    "run_dir": records.text(records.MAX_PATH),
    "created": records.TIMESTAMP,
    "checkpoint": records.text(records.MAX_PATH),
    "checkpoint_sha256": records.text(128),
    "data": records.text(records.MAX_PATH),
    "command": records.list_of(records.text(32768), 10000),
    "cwd": records.text(records.MAX_PATH),
    "pid": records.PID,
    "pgid": records.PID,
    "pid_create_time": records.TIMESTAMP,
    "log": records.text(records.MAX_PATH, allow_empty=False),
    "project": records.text(records.MAX_PATH),
    "name": records.text(records.MAX_NAME),
    "device": records.text(records.MAX_NAME),
    "gpus": records.integer(0, 4096),
    "frozen_tensors": records.COUNT,
    "frozen_prefixes": records.list_of(records.text(records.MAX_PATH), MAX_RECORDED_PREFIXES),
    "bn_eval": records.boolean,
    "options": records.mapping(),
    "predicted_reserved": records.optional(records.BYTES),
    "predicted_nvidia_smi": records.optional(records.BYTES),
    "prediction": records.object_of(
        {
            "config": records.object_of(
                {
                    "batch": records.integer(1, 1 << 20),
                    "per_gpu_batch": records.integer(1, 1 << 20),
                    "img": records.integer(1, 1 << 20),
                    "optimizer": records.text(records.MAX_NAME),
                    "gpus": records.integer(0, 4096),
                    "amp": records.boolean,
                }
            ),
            "step": records.object_of({"reserved": records.BYTES, "nvidia_smi": records.BYTES}),
            "run": records.optional(
                records.object_of(
                    {"reserved": records.BYTES, "nvidia_smi": records.BYTES, "phase": records.text(records.MAX_NAME)}
                )
            ),
        }
    ),
}


@dataclass(frozen=True)
class UnreadableRun:
    """A run folder whose record cannot be trusted: listed with its folder name and why, never dropped."""

    run_id: str  # the folder's name
    run_dir: str
    problem: str  # one line: "run.json: pid is '12' (text), expected a whole number …"
    mtime: float  # for ordering among the others
    record: RunRecord | None = None  # when run.json itself was fine (a side file is bad)

    @property
    def dir(self) -> Path:
        return Path(self.run_dir)

    @property
    def message(self) -> str:
        return f"unreadable record: {self.problem}"


@dataclass(frozen=True)
class Progress:
    epoch: int = 0  # 0-based, as train.py prints it
    epochs: int = 0
    batch: int = 0  # batches done in this epoch
    batches: int = 0
    started: float | None = None  # training loop start (time.time)
    updated: float | None = None
    losses: tuple[float, ...] = ()
    torch_reserved: int | None = None  # bytes; torch.cuda.memory_reserved (yolov5's GPU_mem)
    torch_max_reserved: int | None = None

    @property
    def fraction(self) -> float:
        if not self.epochs or not self.batches:
            return 0.0
        return min(1.0, (self.epoch + self.batch / self.batches) / self.epochs)

    def eta_seconds(self) -> float | None:
        f = self.fraction
        if self.started is None or self.updated is None or f <= 0.0:
            return None
        return (self.updated - self.started) * (1.0 - f) / f


@dataclass(frozen=True)
class RunStatus:
    record: RunRecord
    state: str  # "starting", "running", "paused" (SIGSTOPped), or one of ENDINGS
    phase: str  # the runner's own word: preparing, training, validating, done …
    alive: bool
    save_dir: str | None
    progress: Progress
    exit_code: int | None = None
    detail: str = ""  # one line: why it ended
    last_lines: tuple[str, ...] = ()

    @property
    def ended(self) -> bool:
        return self.state in ENDINGS


def new_run_id(name: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now or time.time()))
    return f"{stamp}-{name}-{os.urandom(2).hex()}"


SIDE_FILES = ("status.json", "progress.json", "exit.json", "stop.json", "verify.json")


def record_problem(record: RunRecord) -> str | None:
    """Why the run's other files cannot be trusted (a bad field, a FIFO, a huge file), or None."""
    for name in SIDE_FILES:
        try:
            records.load_record_file(record.dir / name)
        except RecordError as e:
            return str(e)
    why = records.special_file_problem(Path(record.log))
    return f"log {record.log} {why}" if why else None


def _mtime(d: Path) -> float:
    try:
        return d.stat().st_mtime
    except OSError:
        return 0.0


def scan_runs(override: Path | None = None) -> list[RunRecord | UnreadableRun]:
    """Every run folder, oldest first: good records, and the bad ones as UnreadableRun (never dropped)."""
    root = runs_root(override)
    out: list[RunRecord | UnreadableRun] = []
    try:
        folders = sorted(root.iterdir()) if root.is_dir() else []
    except OSError:
        folders = []
    for d in folders:
        if d.name.startswith(".") or not d.is_dir():
            continue
        try:
            rec = RunRecord.load(d)
        except RunRecordError as e:
            problem = e.message.split("unreadable record: ", 1)[-1]
            # a folder name is shown as-is only if printable: no escape sequences to the terminal
            name = d.name if d.name.isprintable() else ascii(d.name)
            out.append(UnreadableRun(name, str(d), problem, _mtime(d)))
            continue
        problem_ = record_problem(rec)
        out.append(UnreadableRun(d.name, str(d), problem_, rec.created, rec) if problem_ else rec)
    return sorted(out, key=_when)


def _when(entry: RunRecord | UnreadableRun) -> float:
    if isinstance(entry, RunRecord):
        return entry.created
    return entry.record.created if entry.record is not None else entry.mtime


def list_runs(override: Path | None = None) -> list[RunRecord]:
    """Runs whose run.json is good, oldest first (``scan_runs`` also gives the unreadable ones)."""
    out: list[RunRecord] = []
    for r in scan_runs(override):
        if isinstance(r, RunRecord):
            out.append(r)
        elif r.record is not None:
            out.append(r.record)
    return out


def find_run(query: str, override: Path | None = None) -> RunRecord:
    """A run by id, unique id prefix, or ``latest``.

    A folder whose run.json is unreadable is matched by its name like any other, and raises
    RunRecordError saying why rather than "not found": a damaged record never makes a run vanish.
    """
    entries = scan_runs(override)
    if not entries:
        raise RunNotFoundError(f"no recorded runs in {runs_root(override)}")
    if query in ("latest", "last"):
        hits = [entries[-1]]
    else:
        hits = [e for e in entries if e.run_id == query] or [
            e for e in entries if e.run_id.startswith(query) or query in e.run_id
        ]
    if not hits:
        raise RunNotFoundError(f"no run matches {query!r} (yolofreeze-tui runs lists them)")
    if len(hits) > 1:
        raise RunNotFoundError(f"{query!r} matches {len(hits)} runs: {', '.join(r.run_id for r in hits[:4])} …")
    hit = hits[0]
    if isinstance(hit, RunRecord):
        return hit
    if hit.record is None:
        raise RunRecordError(f"run {hit.run_id}: {hit.message}")
    return hit.record  # run.json is good; callers ask record_problem about the rest


def process_alive(pid: int, create_time: float) -> bool:
    return process_state(pid, create_time) in ("alive", "paused")


def process_state(pid: object, create_time: object) -> str:
    """The state of the process with this pid AND create time: "alive", "paused" (SIGSTOPped) or "gone".

    The create time tells our process from an unrelated one that got the pid later; anything
    unreadable (a malformed record) is "gone", never an exception.
    """
    import psutil

    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return "gone"
    if isinstance(create_time, bool) or not isinstance(create_time, (int, float)):
        return "gone"
    try:
        p = psutil.Process(pid)
        if abs(p.create_time() - create_time) >= 1.0:
            return "gone"
        st = p.status()
    except (psutil.NoSuchProcess, psutil.AccessDenied, OverflowError, ValueError):
        return "gone"
    if st in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
        return "gone"
    paused = (psutil.STATUS_STOPPED, getattr(psutil, "STATUS_TRACING_STOP", "tracing-stop"))
    return "paused" if st in paused else "alive"


@dataclass(frozen=True)
class Trainer:
    """trainer.json: the training process the supervisor started (same process group)."""

    pid: int
    pgid: int
    create_time: float

    @staticmethod
    def load(run_dir: Path) -> Trainer | None:
        d = read_json(run_dir / "trainer.json")
        if d is None:
            return None
        pid, pgid, ctime = d.get("pid"), d.get("pgid"), d.get("create_time")
        ints_ok = all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in (pid, pgid))
        if not ints_ok or isinstance(ctime, bool) or not isinstance(ctime, (int, float)):
            return None
        assert isinstance(pid, int) and isinstance(pgid, int)
        return Trainer(pid, pgid, float(ctime))

    def state(self) -> str:
        return process_state(self.pid, self.create_time)


def read_progress(run_dir: Path) -> Progress:
    """progress.json, checked field by field (training.records); an unreadable one reads as no progress."""
    d = read_json(run_dir / "progress.json") or {}
    known = set(Progress.__dataclass_fields__)
    if "losses" in d:
        d["losses"] = tuple(d["losses"])
    return Progress(**{k: v for k, v in d.items() if k in known})


def clean_log_lines(text: str) -> list[str]:
    """Log lines as a terminal would leave them: each tqdm ``\\r`` redraw keeps only its last state."""
    out = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p.strip()]
        if parts:
            out.append(parts[-1].rstrip())
    return out


def tail_lines(path: Path, n: int = 20, max_bytes: int = 256 * 1024) -> list[str]:
    """The log's last ``n`` lines from at most its last ``max_bytes``; [] for a FIFO, a device, none."""
    try:
        text = tail_bytes(path, max_bytes).decode("utf-8", errors="replace")
    except OSError:  # UnsafePathError included: a special file is never read
        return []
    return clean_log_lines(text)[-n:]


def classify_ending(
    log_lines: list[str],
    exit_code: int | None,
    stop_requested: bool,
    runner_ending: str | None = None,
    host_oom: str | None = None,
) -> tuple[str, str]:
    """(ending, one-line detail) from the log, the exit code and whether a stop was asked for.

    An out-of-memory error wins over everything else: a stop asked for while a run was already
    dying of OOM should still be reported as OOM. The runner's own ending comes next: it knows
    whether the stop it was asked for landed before the training's natural end. ``host_oom`` is
    the supervisor's evidence that a SIGKILL nobody asked for came from the kernel's OOM killer.
    """
    for line in reversed(log_lines):
        if any(m in line for m in OOM_MARKERS):
            return "oom", line.strip()[:300]
    if runner_ending == "finished" and exit_code == 0:
        return "finished", "training completed"
    if runner_ending == "stopped":
        return "stopped", "stopped on request"
    if stop_requested:
        return "stopped", "stopped on request"
    if exit_code == -9 and host_oom:
        return "oom", f"killed by the kernel, likely out of host memory ({host_oom})"[:300]
    if exit_code == 0 and runner_ending in (None, "finished"):
        return "finished", "training completed"
    err = next(
        (
            ln.strip()
            for ln in reversed(log_lines)
            if ln.strip()
            and (
                ln.lstrip().startswith(("Error", "Exception", "RuntimeError", "AssertionError"))
                or "Error:" in ln
                or "Exception:" in ln
            )
        ),
        "",
    )
    code = (
        ("killed by signal " + str(-exit_code)) if exit_code is not None and exit_code < 0 else f"exit code {exit_code}"
    )
    if exit_code == -9:
        code += " (SIGKILL, not from a stop; no sign of host memory exhaustion was seen)"
    if exit_code is None:
        code = "process gone without an exit record"
    return "crashed", f"{code}: {err}"[:300] if err else code


def _int_or_none(x: object) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def run_status(record: RunRecord, alive_check: Callable[[int, float], bool] = process_alive) -> RunStatus:
    """The run's state from every process it has: the supervisor and the trainer it started.

    - both gone: the ending, from exit.json (the supervisor's) or, when the supervisor was lost,
      from the trainer's own status.json;
    - the trainer SIGSTOPped: "paused";
    - the supervisor gone but the trainer alive: "running", detail "supervisor lost — …".
    """
    d = record.dir
    status = read_json(d / "status.json") or {}
    exit_info = read_json(d / "exit.json")
    sup_alive = exit_info is None and alive_check(record.pid, record.pid_create_time)
    trainer = Trainer.load(d) if exit_info is None else None
    tstate = trainer.state() if trainer is not None else "gone"
    progress = read_progress(d)
    phase = str(status.get("phase", "starting"))
    save_dir = status.get("save_dir") if isinstance(status.get("save_dir"), str) else None
    if sup_alive or tstate != "gone":
        detail = ""
        if tstate == "paused":
            state = "paused"
            detail = f"training process {trainer.pid if trainer else '?'} is stopped (SIGSTOP); SIGCONT resumes it"
        else:
            state = "running" if progress.started is not None else "starting"
        if not sup_alive and trainer is not None:
            detail = f"supervisor lost — training still running (pid {trainer.pid})" + (f"; {detail}" if detail else "")
        return RunStatus(record, state, phase, True, save_dir, progress, detail=detail)
    exit_code = _int_or_none(exit_info.get("returncode")) if exit_info else None
    runner_ending = status.get("ending") if isinstance(status.get("ending"), str) else None
    if exit_info is None and runner_ending is not None:
        exit_code = _int_or_none(status.get("exit_code"))  # the trainer recorded its own end
    lines = tail_lines(Path(record.log), 40)
    stop = (d / "stop.json").is_file()
    host_oom = exit_info.get("oom") if exit_info and isinstance(exit_info.get("oom"), str) else None
    ending, detail = classify_ending(lines, exit_code, stop, runner_ending, host_oom)
    if exit_info and exit_info.get("not_started") == "launcher" and ending == "crashed":
        detail = "never started: the launcher was gone before it sent the go"
    no_space = status.get("no_space")
    if not isinstance(no_space, str):  # status.json may itself have found no room: the log line then
        marker = "yolofreeze: no space left on "
        no_space = next((ln[len("yolofreeze: ") :] for ln in reversed(lines) if ln.startswith(marker)), None)
    if isinstance(no_space, str) and ending == "crashed":
        detail = no_space[:300]
    elif status.get("error") and ending == "crashed":
        detail = f"{detail} — {status['error']}"[:300]
    if exit_info is None and runner_ending is not None:
        detail = f"{detail} (the supervisor was lost; the training recorded its own end)"[:300]
    return RunStatus(
        record,
        ending,
        phase,
        False,
        save_dir,
        progress,
        exit_code,
        detail,
        tuple(lines[-12:]) if ending in ("crashed", "oom") else (),
    )


RESULTS_LIMIT = 32 << 20  # a row per epoch, ~100 columns with per-class mAP: far below this


def read_results(save_dir: str | Path | None) -> tuple[list[str], list[list[float]]]:
    """results.csv as (stripped column names, rows of floats); empty before the first epoch ends."""
    if not save_dir:
        return [], []
    path = Path(save_dir) / "results.csv"
    try:
        text = read_limited(path, RESULTS_LIMIT).decode("utf-8", errors="replace")
    except OSError:  # absent, a FIFO or device, or larger than any real results.csv
        return [], []
    rows = [ln.split(",") for ln in text.splitlines() if ln.strip()]
    if not rows:
        return [], []
    head = [c.strip() for c in rows[0]]
    body = []
    for r in rows[1:]:
        try:
            body.append([float(c) for c in r])
        except ValueError:
            continue  # a row being written right now
    return head, body


def stop_run(
    record: RunRecord,
    grace_int: float = 20.0,
    grace_term: float = 10.0,
    alive_check: Callable[[int, float], bool] = process_alive,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """stop.json, then SIGINT, SIGTERM, SIGKILL to the run's process group(s); returns the last signal sent.

    The trainer watches stop.json and owns SIGINT/SIGTERM: it stops at the next batch or epoch
    boundary and records "stopped" itself. The supervisor ignores INT/TERM so it can still record
    the exit code. Liveness covers both processes, so a run whose supervisor was lost is still
    stopped (its trainer's group is signalled) rather than reported stopped while it trains on.
    """
    write_json_atomic(record.dir / "stop.json", {"requested": time.time()})
    trainer = Trainer.load(record.dir)

    def alive() -> bool:
        if alive_check(record.pid, record.pid_create_time):
            return True
        return trainer is not None and trainer.state() != "gone"

    if not alive():
        return "none"
    groups = [record.pgid] + ([trainer.pgid] if trainer and trainer.pgid != record.pgid else [])
    for sig, grace in ((signal.SIGINT, grace_int), (signal.SIGTERM, grace_term)):
        if not _signal_groups(groups, sig) or _ended_within(record, alive, grace, sleep):
            return sig.name
    _signal_groups(groups, signal.SIGKILL)
    # The supervisor died with the group, so nobody else will write the exit record.
    if not (record.dir / "exit.json").is_file():
        write_json_atomic(record.dir / "exit.json", {"returncode": -int(signal.SIGKILL), "by": "stop"})
    return "SIGKILL"


def _signal_groups(groups: list[int], sig: signal.Signals) -> bool:
    """``sig`` to each process group; False when none of them exists any more."""
    sent = False
    for g in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(g, sig)
            sent = True
            if sig != signal.SIGKILL:
                os.killpg(g, signal.SIGCONT)  # a SIGSTOPped trainer must run to see the stop
    return sent


def _ended_within(record: RunRecord, alive: Callable[[], bool], grace: float, sleep: Callable[[float], None]) -> bool:
    """Whether the run ends (its processes gone, or its exit recorded) within ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive():
            return True
        if (record.dir / "exit.json").is_file():
            # the supervisor has recorded the exit and is returning: "stopped" should mean
            # gone, so give it a moment to leave (the exit record is already safe on disk)
            leave_by = min(deadline, time.monotonic() + 5.0)
            while alive() and time.monotonic() < leave_by:
                sleep(0.05)
            return True
        sleep(0.1)
    return False


class LogFollower:
    """Reads a run's log from the start, then whatever was appended since: whole lines only.

    tqdm redraws (``\\r``) inside a line collapse to their last state, so a pipe gets the lines a
    terminal would have left on screen.
    """

    def __init__(self, path: str | Path, tail_bytes: int | None = None) -> None:
        """``tail_bytes``: start that far from the end (a screen needs the end of a huge log, not
        gigabytes of its start); ``skipped`` then says how many bytes were left out."""
        self.path = Path(path)
        self.offset = 0
        self.skipped = 0
        self._partial = b""
        self._mid_line = False
        if tail_bytes is not None and records.special_file_problem(self.path) is None:
            with contextlib.suppress(OSError):
                size = os.stat(self.path).st_size
                if size > tail_bytes:
                    self.offset = self.skipped = size - tail_bytes
                    self._mid_line = True  # the first line read is cut: dropped

    def read(self, max_bytes: int = 4 << 20) -> list[str]:
        """Lines appended since the last call, from at most ``max_bytes`` more of the file."""
        try:
            with open_regular(self.path) as f:  # a FIFO or /dev/zero is refused, never read
                f.seek(self.offset)
                chunk = f.read(max_bytes)
        except OSError:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        if self._mid_line:
            nl = data.find(b"\n")
            if nl < 0:
                self._partial = b""
                return []
            data, self._mid_line = data[nl + 1 :], False
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return []
        self._partial = data[cut + 1 :]
        return clean_log_lines(data[:cut].decode("utf-8", errors="replace"))

    def rest(self) -> list[str]:
        """After the run ended: the unterminated last line too."""
        lines = self.read()
        if self._partial:
            lines += clean_log_lines(self._partial.decode("utf-8", errors="replace"))
            self._partial = b""
        return lines
