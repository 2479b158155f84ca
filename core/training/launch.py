"""Launch YOLOv5 training with a freeze plan: validate, record, start a detached process.

Everything a user can get wrong is checked here, before any process starts, and comes back as
one ``Problem`` per field (the CLI prints them, the launch form shows them under its fields).
The training itself runs ``yolofreeze.core.training.child.runner`` in its own session
(``start_new_session``) under a small
supervisor, so it survives the TUI quitting and the SSH connection dropping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.errors import (
    EXIT_BAD_DATA,
    EXIT_NO_GPU,
    CheckpointError,
    DataConfigError,
    GpuUnavailableError,
    PlanError,
    TrainingError,
    YoloFreezeError,
)
from yolofreeze.core.plan.freeze import FreezePlan, compress, nothing_to_train
from yolofreeze.core.plan.schedule import Schedule, schedule_json
from yolofreeze.core.safeio import no_space_message
from yolofreeze.core.training import options
from yolofreeze.core.training.dataset import DataCheck, Problem, YamlRefused, check_data_yaml, load_yaml_file
from yolofreeze.core.training.runs import MAX_RECORDED_PREFIXES, RunRecord, new_run_id, runs_root, write_json_atomic

# What train.py would otherwise reach the network for, switched off for every run (see runner).
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class LaunchOptions:
    checkpoint: str
    data: str
    frozen: frozenset[str]
    epochs: int = options.DEFAULTS.epochs
    batch: int = options.DEFAULTS.batch
    img: int = options.DEFAULTS.img
    hyp: str | None = None
    optimizer: str = options.DEFAULTS.optimizer
    device: str = options.DEFAULTS.device  # "" = first GPU if any, else CPU; "cpu"; "0"; "0,1" (DDP)
    workers: int = options.DEFAULTS.workers
    project: str = options.DEFAULTS.project
    name: str = options.DEFAULTS.name
    bn_eval: bool = True
    plots: bool = True
    yolov5_dir: str | None = None
    predicted_reserved: int | None = None
    predicted_nvidia_smi: int | None = None
    # estimator.prediction_record: the configuration the figures were computed for, step and whole run
    prediction: dict[str, Any] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)  # tests: network guard, etc.
    schedule: Schedule | None = None  # staged unfreezing; ``frozen`` is then its phase 0


@dataclass(frozen=True)
class Validation:
    problems: tuple[Problem, ...]
    info: ModelInfo | None = None
    data: DataCheck | None = None
    device: str = ""  # resolved: "cpu" or "0" / "0,1"
    gpus: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        """GPU problems exit 5, bad data/options 4, an unreadable checkpoint 1."""
        codes = {p.exit_code for p in self.problems}
        if EXIT_NO_GPU in codes:
            return EXIT_NO_GPU
        return EXIT_BAD_DATA if EXIT_BAD_DATA in codes else max(codes, default=0)

    def raise_for_problems(self) -> None:
        if not self.problems:
            return
        text = "\n".join(f"{p.field}: {p.message}" for p in self.problems)
        code = self.exit_code
        if code == EXIT_NO_GPU:
            raise GpuUnavailableError(text)
        if code == EXIT_BAD_DATA:
            raise DataConfigError(text)
        err = YoloFreezeError(text)
        err.exit_code = code
        raise err


def parse_device(device: str) -> tuple[str, list[int]] | None:
    """("auto"|"cpu"|"cuda", indices) the way train.py's select_device reads it; None if unreadable."""
    d = device.strip().lower().replace("cuda:", "").replace(" ", "")
    if d == "":
        return "auto", []
    if d == "cpu":
        return "cpu", []
    parts = d.split(",")
    if all(p.isdigit() for p in parts):
        idx = [int(p) for p in parts]
        return ("cuda", idx) if len(set(idx)) == len(idx) else None
    return None


def validate(
    opts: LaunchOptions, gpu_count: Callable[[], tuple[int, str]] | None = None, info: ModelInfo | None = None
) -> Validation:
    """Every problem with the inputs. A hostile checkpoint raises (exit 3): nothing else matters then."""
    problems: list[Problem] = []
    if info is None:
        try:
            info = read_checkpoint(opts.checkpoint)
        except CheckpointError as e:
            problems.append(Problem("weights", str(e), 1))
    if info is not None:
        info.require_safe("train from it")
        problems += _checkpoint_problems(opts, info)
    yolov5_root, root_problems = _yolov5_root(opts.yolov5_dir)
    problems += root_problems
    data = check_data_yaml(opts.data, yolov5_root)
    problems += data.problems
    if info is not None:
        problems += _head_problems(opts.frozen, info, data)
    step = options.model_image_step(info) if info is not None else options.image_step(())
    problems += _option_problems(opts, step)
    resolved, gpus, device_problems = _resolve_device(opts.device, gpu_count or _default_gpu_count)
    problems += device_problems
    if why := options.check_batch(opts.batch, max(gpus, 1)):
        problems.append(Problem("batch", why))
    return Validation(tuple(problems), info, data, resolved, gpus)


def _checkpoint_problems(opts: LaunchOptions, info: ModelInfo) -> list[Problem]:
    problems = []
    if info.yaml is None or info.kind != "yolov5":
        problems.append(
            Problem(
                "weights",
                f"{opts.checkpoint}: not a YOLOv5 detection checkpoint with a "
                "model YAML; the network cannot be rebuilt for training",
                1,
            )
        )
    missing = sorted(n for n in opts.frozen if n not in {p.name for p in info.parameters})
    if missing:
        problems.append(
            Problem(
                "plan", f"{len(missing)} frozen names are not parameters of this checkpoint (first: {missing[0]})", 2
            )
        )
    if any(p.location is None for p in info.parameters):
        problems.append(Problem("weights", f"{opts.checkpoint}: some tensors have no stored data", 1))
    nothing = nothing_to_train(info, opts.frozen)
    if nothing:  # the TUI's launch form shows it under the plan; `train` checks it before validating
        problems.append(Problem("plan", nothing, 4))
    return problems


def _yolov5_root(yolov5_dir: str | None) -> tuple[Path | None, list[Problem]]:
    if not yolov5_dir:
        return None, []
    root = Path(yolov5_dir).expanduser().resolve()
    if (root / "train.py").is_file() and (root / "models" / "yolo.py").is_file():
        return root, []
    why = f"{root}: not a clone of ultralytics/yolov5 (train.py and models/yolo.py expected)"
    return root, [Problem("yolov5_dir", why)]


def _head_problems(frozen: frozenset[str], info: ModelInfo, data: DataCheck) -> list[Problem]:
    """A frozen Detect head that train.py re-initialises for another class count cannot stay frozen."""
    detect = info.detect_layer
    if detect is None or data.nc is None or info.metadata.nc is None or data.nc == info.metadata.nc:
        return []
    head = sorted(n for n in frozen if n.startswith(detect.prefix + "m."))
    if not head:
        return []
    return [
        Problem(
            "plan",
            f"the plan freezes the Detect output convs ({head[0]} …), but the "
            f"checkpoint has nc={info.metadata.nc} and the data nc={data.nc}: "
            "they are re-initialised and cannot stay frozen at their old values",
        )
    ]


def _option_problems(opts: LaunchOptions, step: int) -> list[Problem]:
    """options' rules, one Problem per field; an image size train.py would change is one too."""
    checks = (
        ("epochs", options.check_epochs(opts.epochs)),
        ("img", options.check_img(opts.img) or options.check_img_as_trained(opts.img, step)),
        ("workers", options.check_workers(opts.workers)),
        ("optimizer", options.check_optimizer(opts.optimizer)),
    )
    problems = [Problem(f, why) for f, why in checks if why]
    if opts.hyp:
        problems += _check_hyp(opts.hyp)
    if not opts.name or "/" in opts.name:
        problems.append(Problem("name", f"run name {opts.name!r}: give a plain folder name"))
    return problems


def _resolve_device(device: str, gpu_count: Callable[[], tuple[int, str]]) -> tuple[str, int, list[Problem]]:
    """(the device train.py gets, GPUs used, problems): "" picks GPU 0 when there is one, else the CPU."""
    parsed = parse_device(device)
    if parsed is None:
        return "", 0, [Problem("device", f"device {device!r}: use cpu, 0, or 0,1,… (GPU numbers)")]
    kind, idx = parsed
    if kind == "cpu":
        return "cpu", 0, []
    count, why = gpu_count()
    if kind == "auto":
        return ("cpu", 0, []) if count == 0 else ("0", 1, [])
    resolved = ",".join(map(str, idx))
    if count == 0:
        why = f"--device {device} asks for CUDA but no GPU is usable ({why or 'none found'})"
    elif max(idx) >= count:
        why = f"--device {device}: only {count} GPU(s) visible (0..{count - 1})"
    else:
        why = ""
    return resolved, len(idx), [Problem("device", why, EXIT_NO_GPU)] if why else []


def _plan_prefixes(info: ModelInfo, frozen: frozenset[str]) -> tuple[str, ...]:
    """The plan in train.py's prefix terms for the record; () when it has no short form."""
    try:
        prefixes = compress(FreezePlan(info, frozen))
    except PlanError:
        return ()
    return tuple(prefixes) if len(prefixes) <= MAX_RECORDED_PREFIXES else ()


def _default_gpu_count() -> tuple[int, str]:
    from yolofreeze.core.monitoring.gpu import cuda_device_count

    return cuda_device_count()


def _check_hyp(hyp: str) -> list[Problem]:
    import yaml

    p = Path(hyp).expanduser()
    try:  # bounded and alias-bomb-safe, like the data YAML (a FIFO or /dev/zero is refused unread)
        data = load_yaml_file(p)
    except FileNotFoundError:
        return [Problem("hyp", f"hyperparameter file not found: {p}")]
    except YamlRefused as e:
        return [Problem("hyp", f"hyperparameter file {p}: {e}")]
    except (OSError, yaml.YAMLError) as e:
        return [Problem("hyp", f"{p.name}: not valid YAML ({type(e).__name__})")]
    if not isinstance(data, dict) or "lr0" not in data:
        return [Problem("hyp", f"{p.name}: not a YOLOv5 hyperparameter file (no lr0)")]
    return []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train_command(run_dir: Path, gpus: int, python: str = sys.executable, port: int | None = None) -> list[str]:
    """The process the supervisor starts: the runner, or torch.distributed.run over N runners (DDP)."""
    runner = ["-m", "yolofreeze.core.training.child.runner", "train", str(run_dir)]
    if gpus <= 1:
        return [python, *runner]
    return [
        python,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(gpus),
        "--master_port",
        str(port or free_port()),
        *runner,
    ]


def supervisor_command(run_dir: Path, python: str = sys.executable) -> list[str]:
    return [python, "-m", "yolofreeze.core.training.child.runner", "supervise", str(run_dir)]


def train_kwargs(opts: LaunchOptions, v: Validation, run_dir: Path) -> dict[str, Any]:
    """train.py's options, as ``run(**kwargs)`` / ``parse_opt`` take them."""
    kw: dict[str, Any] = {
        "weights": str(run_dir / "input.pt"),  # the checkpoint we rebuild; never the user's file
        "cfg": "",
        "data": str(run_dir / "data.yaml"),
        "epochs": opts.epochs,
        "batch_size": opts.batch,
        "imgsz": opts.img,
        "optimizer": opts.optimizer,
        "device": v.device,
        "workers": opts.workers,
        "project": str(Path(opts.project).expanduser().resolve()),
        "name": opts.name,
        "freeze": [0],  # the runner freezes the exact plan itself
        "noplots": not opts.plots,
    }
    if opts.hyp:
        kw["hyp"] = str(Path(opts.hyp).expanduser().resolve())
    return kw


def launch(
    opts: LaunchOptions,
    state: Path | None = None,
    validation: Validation | None = None,
    gpu_count: Callable[[], tuple[int, str]] | None = None,
    python: str = sys.executable,
    on_record: Callable[[RunRecord], None] | None = None,
) -> RunRecord:
    """Validate, write the run folder, start the detached supervisor; returns the run's record.

    ``on_record`` gets the record the moment it is on disk, before anything slow (hashing the
    checkpoint): a caller interrupted after that point can still stop the run it started.
    """
    import yaml

    v = validation or validate(opts, gpu_count)
    v.raise_for_problems()
    assert v.info is not None and v.data is not None
    run_id = new_run_id(opts.name)
    run_dir = runs_root(state) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "data.yaml").write_text(yaml.safe_dump(v.data.normalised, sort_keys=False), encoding="utf-8")
    ordered = [p.name for p in v.info.parameters if p.name in opts.frozen]
    (run_dir / "frozen.txt").write_text("".join(n + "\n" for n in ordered), encoding="utf-8")
    if opts.schedule is not None and opts.schedule.staged:  # the runner applies it (child/phases.py)
        write_json_atomic(run_dir / "schedule.json", schedule_json(opts.schedule, [p.name for p in v.info.parameters]))
    kw = train_kwargs(opts, v, run_dir)
    cmd = train_command(run_dir, v.gpus, python)
    config: dict[str, Any] = {
        "checkpoint": str(Path(opts.checkpoint).resolve()),
        "train_kwargs": kw,
        "bn_eval": opts.bn_eval,
        "yolov5_dir": str(Path(opts.yolov5_dir).resolve()) if opts.yolov5_dir else None,
        "train_command": cmd,
    }
    write_json_atomic(run_dir / "config.json", config)
    log = run_dir / "train.log"
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    env.setdefault("WANDB_MODE", "disabled")
    env.update(opts.extra_env)
    import psutil

    # From the supervisor's start to run.json on disk, SIGINT/SIGTERM wait: a Ctrl-C there lands
    # once the run is recorded (and on_record has it), never on a process nobody can find.
    # The supervisor itself starts the training only after our "go", i.e. after run.json exists.
    with _signals_held():
        with open(log, "ab") as logf:
            try:
                proc = subprocess.Popen(
                    supervisor_command(run_dir, python),
                    cwd=os.getcwd(),
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as e:
                raise TrainingError(f"could not start the training process: {e}") from None
        # Reap the supervisor if it ends while we still run (the TUI), so it never lingers as a zombie.
        threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
        try:
            created = psutil.Process(proc.pid).create_time()
        except psutil.NoSuchProcess:
            created = time.time()
        record = RunRecord(
            run_id=run_id,
            run_dir=str(run_dir),
            created=time.time(),
            checkpoint=config["checkpoint"],
            checkpoint_sha256="",  # filled in below: hashing a large file must not delay the record
            data=str(Path(opts.data).resolve()),
            command=tuple(cmd),
            cwd=os.getcwd(),
            pid=proc.pid,
            pgid=proc.pid,
            pid_create_time=created,
            log=str(log),
            project=kw["project"],
            name=opts.name,
            device=v.device,
            gpus=v.gpus,
            frozen_tensors=len(opts.frozen),
            frozen_prefixes=_plan_prefixes(v.info, opts.frozen),
            bn_eval=opts.bn_eval,
            options={
                k: v_
                for k, v_ in asdict(replace(opts, frozen=frozenset(), schedule=None)).items()
                if k not in ("frozen", "prediction", "schedule")
            }
            | {
                "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
                # the record counts tensors; screens also say how many parameters they hold
                "frozen_params": sum(p.numel for p in v.info.parameters if p.name in opts.frozen),
            },
            predicted_reserved=opts.predicted_reserved,
            predicted_nvidia_smi=opts.predicted_nvidia_smi,
            prediction=dict(opts.prediction),
        )
        _test_pause(run_dir, "spawned")
        try:
            record.save()
        except OSError as e:
            _close_quietly(proc)  # EOF without "go": the supervisor starts nothing and leaves
            raise TrainingError(
                f"could not record the run: {no_space_message(e, run_dir) or e}; nothing was started"
            ) from None
        if on_record is not None:
            on_record(record)
        assert proc.stdin is not None
        try:
            proc.stdin.write(b"go\n")
            proc.stdin.close()
        except OSError:
            pass  # the supervisor is already gone: the record's liveness check will say so
    _test_pause(run_dir, "hashing")
    record = replace(record, checkpoint_sha256=v.info.sha256())
    with contextlib.suppress(OSError):  # the run is recorded and going; a missing hash is not fatal
        record.save()
    return record


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT/SIGTERM arriving during the block are held and re-delivered at its end.

    Done with Python handlers rather than a thread signal mask: the kernel may hand a
    process-directed signal to any thread that does not block it, and Python would still raise
    KeyboardInterrupt in the main thread in the middle of the block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only; nothing to hold here
        return
    pending: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for held in dict.fromkeys(pending):
            signal.raise_signal(held)  # now handled as it would have been (Ctrl-C: KeyboardInterrupt)


def _close_quietly(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()


def _test_pause(run_dir: Path, stage: str) -> None:
    from yolofreeze.core.training.child.runner import pause_point

    pause_point(run_dir, stage)


__all__ = [
    "LaunchOptions",
    "Validation",
    "launch",
    "parse_device",
    "supervisor_command",
    "train_command",
    "validate",
]
