"""Run records on disk: what was launched, whether it is alive, how it ended, its log and results.

One folder per run under ``<state dir>/runs/<run id>/``:
``run.json`` (written once by the launcher), ``status.json`` (the runner's phase and save_dir),
``progress.json`` (epoch/batch, newest only), ``exit.json`` (the supervisor's record of the exit
code), ``stop.json`` (a stop was asked for), ``train.log`` (stdout+stderr from the start), and
``verify.json`` (the after-run check of the frozen weights). Any process can read them, so a
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from yolofreeze.core.errors import RunNotFoundError

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
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
    frozen: int  # parameters the plan freezes
    bn_eval: bool
    options: dict[str, Any] = field(default_factory=dict)
    predicted_reserved: int | None = None  # bytes, torch reserved, from yolofreeze.core.memory
    predicted_nvidia_smi: int | None = None  # bytes, what NVML / nvidia-smi would show

    @property
    def dir(self) -> Path:
        return Path(self.run_dir)

    @staticmethod
    def load(run_dir: Path) -> RunRecord:
        data = read_json(run_dir / "run.json")
        if data is None:
            raise RunNotFoundError(f"{run_dir}: no readable run.json")
        data["command"] = tuple(data.get("command", ()))
        known = set(RunRecord.__dataclass_fields__)
        return RunRecord(**{k: v for k, v in data.items() if k in known})

    def save(self) -> None:
        write_json_atomic(self.dir / "run.json", asdict(self))


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
    state: str  # "starting", "running", or one of ENDINGS
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


def list_runs(override: Path | None = None) -> list[RunRecord]:
    root = runs_root(override)
    out = []
    if root.is_dir():
        for d in root.iterdir():
            if (d / "run.json").is_file():
                with contextlib.suppress(RunNotFoundError, TypeError):
                    out.append(RunRecord.load(d))
    return sorted(out, key=lambda r: r.created)


def find_run(query: str, override: Path | None = None) -> RunRecord:
    """A run by id, unique id prefix, or ``latest``."""
    runs = list_runs(override)
    if not runs:
        raise RunNotFoundError(f"no recorded runs in {runs_root(override)}")
    if query in ("latest", "last"):
        return runs[-1]
    exact = [r for r in runs if r.run_id == query]
    if exact:
        return exact[0]
    hits = [r for r in runs if r.run_id.startswith(query) or query in r.run_id]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise RunNotFoundError(f"no run matches {query!r} (yolofreeze-tui runs lists them)")
    raise RunNotFoundError(f"{query!r} matches {len(hits)} runs: {', '.join(r.run_id for r in hits[:4])} …")


def process_alive(pid: int, create_time: float) -> bool:
    import psutil

    try:
        p = psutil.Process(pid)
        return bool(abs(p.create_time() - create_time) < 1.0 and p.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def read_progress(run_dir: Path) -> Progress:
    d = read_json(run_dir / "progress.json") or {}
    known = set(Progress.__dataclass_fields__)
    try:
        if "losses" in d:
            d["losses"] = tuple(float(x) for x in d["losses"])
        return Progress(**{k: v for k, v in d.items() if k in known})
    except (TypeError, ValueError):
        return Progress()


def clean_log_lines(text: str) -> list[str]:
    """Log lines as a terminal would leave them: each tqdm ``\\r`` redraw keeps only its last state."""
    out = []
    for line in text.split("\n"):
        parts = [p for p in line.split("\r") if p.strip()]
        if parts:
            out.append(parts[-1].rstrip())
    return out


def tail_lines(path: Path, n: int = 20, max_bytes: int = 256 * 1024) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return clean_log_lines(text)[-n:]


def classify_ending(
    log_lines: list[str], exit_code: int | None, stop_requested: bool, runner_ending: str | None = None
) -> tuple[str, str]:
    """(ending, one-line detail) from the log, the exit code and whether a stop was asked for.

    An out-of-memory error wins over everything else: a stop asked for while a run was already
    dying of OOM should still be reported as OOM.
    """
    for line in reversed(log_lines):
        if any(m in line for m in OOM_MARKERS):
            return "oom", line.strip()[:300]
    if runner_ending == "finished" and exit_code == 0:
        return "finished", "training completed"
    if stop_requested:
        return "stopped", "stopped on request"
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
    if exit_code is None:
        code = "process gone without an exit record"
    return "crashed", f"{code}: {err}"[:300] if err else code


def run_status(record: RunRecord, alive_check: Callable[[int, float], bool] = process_alive) -> RunStatus:
    d = record.dir
    status = read_json(d / "status.json") or {}
    exit_info = read_json(d / "exit.json")
    alive = exit_info is None and alive_check(record.pid, record.pid_create_time)
    progress = read_progress(d)
    phase = str(status.get("phase", "starting"))
    save_dir = status.get("save_dir")
    if alive:
        state = "running" if progress.started is not None else "starting"
        return RunStatus(record, state, phase, True, save_dir, progress)
    exit_code = exit_info.get("returncode") if exit_info else None
    lines = tail_lines(Path(record.log), 40)
    stop = (d / "stop.json").is_file()
    ending, detail = classify_ending(lines, exit_code, stop, status.get("ending"))
    if status.get("error") and ending == "crashed":
        detail = f"{detail} — {status['error']}"[:300]
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


def read_results(save_dir: str | Path | None) -> tuple[list[str], list[list[float]]]:
    """results.csv as (stripped column names, rows of floats); empty before the first epoch ends."""
    if not save_dir:
        return [], []
    path = Path(save_dir) / "results.csv"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
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
    """SIGINT, then SIGTERM, then SIGKILL to the run's process group; returns the last signal sent.

    SIGINT first lets train.py unwind (KeyboardInterrupt) and dataloader workers exit cleanly;
    the supervisor ignores INT/TERM so it can still record the exit code.
    """
    write_json_atomic(record.dir / "stop.json", {"requested": time.time()})
    if not alive_check(record.pid, record.pid_create_time):
        return "none"
    for sig, grace in ((signal.SIGINT, grace_int), (signal.SIGTERM, grace_term)):
        try:
            os.killpg(record.pgid, sig)
        except ProcessLookupError:
            return sig.name
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not alive_check(record.pid, record.pid_create_time):
                return sig.name
            if (record.dir / "exit.json").is_file():
                # the supervisor has recorded the exit and is returning: "stopped" should mean
                # gone, so give it a moment to leave (the exit record is already safe on disk)
                leave_by = min(deadline, time.monotonic() + 5.0)
                while alive_check(record.pid, record.pid_create_time) and time.monotonic() < leave_by:
                    sleep(0.05)
                return sig.name
            sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pgid, signal.SIGKILL)
    # The supervisor died with the group, so nobody else will write the exit record.
    if not (record.dir / "exit.json").is_file():
        write_json_atomic(record.dir / "exit.json", {"returncode": -int(signal.SIGKILL), "by": "stop"})
    return "SIGKILL"


class LogFollower:
    """Reads a run's log from the start, then whatever was appended since: whole lines only.

    tqdm redraws (``\\r``) inside a line collapse to their last state, so a pipe gets the lines a
    terminal would have left on screen.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self._partial = b""

    def read(self, max_bytes: int = 4 << 20) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(max_bytes)
        except OSError:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
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
