"""The code that runs inside the training processes
(``python -m yolofreeze.core.training.child.runner supervise|train RUN_DIR``).

``supervise``: the detached session leader. It waits for the launcher's go (sent once run.json
is on disk, so no training ever runs unrecorded), starts the trainer (or torch.distributed.run
for DDP) in the same process group, records the trainer's pid and create time in
``trainer.json``, ignores SIGINT/SIGTERM so that it outlives a stop, and records the exit code
(and, for a SIGKILL nobody asked for, what it saw of host memory) in ``exit.json``.

``train``: YOLOv5's own training (``yolov5.train`` from the pip package, or a clone's ``train.py``)
with these things added at patch points train.py already has:
- the checkpoint it loads is one we rebuilt from safely read tensors (``input.pt``);
- the exact plan is frozen in a wrapper around ``smart_optimizer``: it runs after train.py built
  the model and applied its own (whole-layer) freeze, and before any optimizer state exists;
- frozen BatchNorm layers go back to eval mode at every batch start (train.py calls
  ``model.train()`` at each epoch start, after ``on_train_epoch_start``);
- the runner owns SIGINT/SIGTERM and watches ``stop.json``: a stop sets a flag, and the runner
  raises its own ``StopRequested`` at boundaries outside yolov5's ``TryExcept`` (which swallows
  every exception, KeyboardInterrupt included);
- every status/progress write is best effort: monitoring never kills a training;
- torch.save writes beside the target and renames, so a full disk never truncates last.pt;
- the trainer writes its own ending (status.json) so a lost supervisor loses nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from yolofreeze.core.safeio import no_space_message, write_atomic
from yolofreeze.core.training.runs import read_json

RANK = int(os.environ.get("RANK", -1))
LOCAL_RANK = int(os.environ.get("LOCAL_RANK", -1))
MAIN = RANK in (-1, 0)
# Tests hold a process at a named stage (see StopControl.pause_point); never set in normal use.
PAUSE_ENV = "YOLOFREEZE_TEST_PAUSE_AT"
PAUSE_LIMIT = 120.0  # a forgotten pause never holds a run for ever


class BestEffortWriter:
    """JSON files others poll: written atomically, and a failure is logged once, never raised.

    Monitoring must never kill a training: a deleted run folder, a full disk or a permission
    change costs the monitor its view, not the user their training. A run folder that vanished
    is not recreated (that would leave a headless folder no listing knows).
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.failed: set[str] = set()
        self.last_error: OSError | None = None

    def write(self, name: str, data: Any) -> bool:
        path = self.run_dir / name
        try:
            if not self.run_dir.is_dir():
                raise FileNotFoundError(2, "the run folder is gone", str(self.run_dir))
            write_atomic(path, json.dumps(data, indent=1, default=str), fsync=False)
        except OSError as e:
            self.last_error = e
            if name not in self.failed:  # once per file: a full disk would otherwise flood the log
                self.failed.add(name)
                why = no_space_message(e, path) or f"{type(e).__name__}: {e}"
                _log(f"could not write {name} ({why}); training goes on, this file is skipped")
            return False
        if name in self.failed:
            self.failed.discard(name)
            _log(f"{name} is written again")
        return True


def _log(msg: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(f"yolofreeze: {msg}", flush=True)


def pause_point(run_dir: Path, stage: str, released: Any = None) -> None:
    """Tests: hold here while ``PAUSE_ENV`` names this stage, until ``released()`` or a release file.

    Writes ``paused-STAGE`` in the run folder on arrival, so a test waits for a condition instead
    of sleeping; ``release-STAGE`` (or the callable) lets it go on.
    """
    if os.environ.get(PAUSE_ENV) != stage:
        return
    with contextlib.suppress(OSError):
        (run_dir / f"paused-{stage}").write_text(str(os.getpid()))
    release = run_dir / f"release-{stage}"
    deadline = time.monotonic() + PAUSE_LIMIT
    while time.monotonic() < deadline and not release.exists() and not (released and released()):
        if not run_dir.is_dir():  # a test that deleted the run folder cannot leave a file in it
            break
        time.sleep(0.02)


class StopRequested(BaseException):
    """The runner's own stop: a BaseException so yolov5's ``except Exception`` passes it on.

    Raised only from our callbacks and checks, never inside a yolov5 ``TryExcept`` (which returns
    True for everything): a stop cannot be swallowed there.
    """


class StopControl:
    """SIGINT/SIGTERM and stop.json set one flag; ``check`` raises StopRequested where it is safe.

    While ``raise_now`` is set (our own start-up: imports, the input checkpoint) a signal raises at
    once; otherwise the training stops at the next batch/epoch boundary. A second signal (the
    launcher's escalation to SIGTERM) raises wherever the trainer is; if a TryExcept swallows that,
    the flag is still set and the next boundary raises again.
    """

    def __init__(self, run_dir: Path, poll: float = 0.5) -> None:
        self.stop_file = run_dir / "stop.json"
        self.poll = poll
        self.reason: str | None = None
        self.signals = 0
        self.raise_now = False
        self._done = threading.Event()

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        # A stop asked for before the handlers existed (the trainer starts with INT/TERM ignored)
        # is in stop.json: stop_run writes it before it signals anyone.
        self._look()
        threading.Thread(target=self._watch, name="yolofreeze-stop-watch", daemon=True).start()

    def close(self) -> None:
        self._done.set()

    def _look(self) -> None:
        if self.reason is None and self.stop_file.exists():
            self.reason = "stop.json"

    def _watch(self) -> None:
        while not self._done.wait(self.poll):
            self._look()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals += 1
        if self.reason is None:
            self.reason = signal.Signals(signum).name
        if self.raise_now or self.signals >= 2:
            raise StopRequested(self.reason)

    def check(self, where: str = "") -> None:
        if self.reason is not None:
            raise StopRequested(f"{self.reason} ({where})" if where else self.reason)


def cgroup_oom_kills() -> int | None:
    """The memory cgroup's oom_kill counter (v2 memory.events or v1 memory.oom_control), if readable."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, rel = line.split(":", 2)
            if controllers == "":
                candidates.append(Path("/sys/fs/cgroup") / rel.lstrip("/") / "memory.events")
            elif "memory" in controllers.split(","):
                candidates.append(Path("/sys/fs/cgroup/memory") / rel.lstrip("/") / "memory.oom_control")
    candidates += [Path("/sys/fs/cgroup/memory.events"), Path("/sys/fs/cgroup/memory/memory.oom_control")]
    for path in candidates:
        with contextlib.suppress(OSError, ValueError):
            for line in path.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return None


def memory_sample(pid: int) -> dict[str, Any]:
    """Host memory and the trainer tree's RSS: what is observable of a coming OOM kill."""
    import psutil

    out: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        vm = psutil.virtual_memory()
        out.update(total=int(vm.total), available=int(vm.available))
    with contextlib.suppress(Exception):
        p = psutil.Process(pid)
        rss = p.memory_info().rss
        for c in p.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                rss += c.memory_info().rss
        out["rss"] = int(rss)
    return out


def oom_evidence(before: int | None, after: int | None, last: dict[str, Any]) -> str | None:
    """Why a SIGKILL nobody asked for was probably the kernel's OOM killer, or None if nothing says so."""
    if before is not None and after is not None and after > before:
        return f"the memory cgroup's oom_kill count rose from {before} to {after}"
    total, avail = last.get("total"), last.get("available")
    if total and avail is not None and avail < 0.05 * total:
        rss = last.get("rss")
        used = f"; the training used {rss / 2**30:.1f} GiB" if rss else ""
        return f"host memory was {100 - 100 * avail / total:.0f}% used at the last sample{used}"
    return None


def supervise(run_dir: Path, go: Any = None) -> int:
    # Stay alive through the stop signals sent to the whole group: the trainer unwinds, we record.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    writer = BestEffortWriter(run_dir)
    # The launcher writes run.json, then sends "go": no training runs that `runs` cannot list.
    # EOF without go means the launcher died before recording the run: start nothing.
    line = (go or sys.stdin).readline()
    if line.strip() != "go":
        _log(f"supervisor {os.getpid()}: the launcher left before starting the run; nothing started")
        if (run_dir / "run.json").is_file():  # recorded but never started: say so, not "crashed"
            writer.write("exit.json", {"returncode": None, "ended": time.time(), "not_started": "launcher"})
        return 0
    config = read_json(run_dir / "config.json") or {}
    cmd = config["train_command"]
    started = time.time()
    if (run_dir / "stop.json").exists():
        _log(f"supervisor {os.getpid()}: stop requested before the training started; nothing started")
        writer.write("exit.json", {"returncode": None, "ended": time.time(), "not_started": "stop"})
        return 0
    _log(f"supervisor {os.getpid()} starting: {' '.join(cmd)}")
    ddp = "torch.distributed.run" in cmd
    oom_before = cgroup_oom_kills()
    child = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, preexec_fn=_default_signals if ddp else _ignore_stop_signals
    )
    import psutil

    try:
        created = psutil.Process(child.pid).create_time()
    except psutil.Error:
        created = time.time()
    writer.write("trainer.json", {"pid": child.pid, "pgid": os.getpgid(0), "create_time": created, "started": started})
    last: dict[str, Any] = {}
    while True:
        try:
            rc = child.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            last = memory_sample(child.pid) or last
    info: dict[str, Any] = {"returncode": rc, "started": started, "ended": time.time()}
    if rc == -signal.SIGKILL and not (run_dir / "stop.json").exists():
        info["oom"] = oom_evidence(oom_before, cgroup_oom_kills(), last)
        info["memory"] = last
    writer.write("exit.json", info)
    _log(f"training process exited with {rc}")
    return 0


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _ignore_stop_signals() -> None:
    # The runner installs its own handlers first thing; until then a stop lives in stop.json
    # (written before any signal), so nothing is lost and Python's KeyboardInterrupt never fires.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Status:
    """status.json: the runner's phase, save_dir and how it ended (rank 0 only writes)."""

    def __init__(self, run_dir: Path, writer: BestEffortWriter | None = None) -> None:
        self.path = run_dir / "status.json"
        self.writer = writer or BestEffortWriter(run_dir)
        self.data: dict[str, Any] = {"phase": "preparing", "pid": os.getpid()}

    def set(self, **kw: Any) -> None:
        self.data.update(kw)
        if MAIN:
            self.writer.write(self.path.name, self.data)


def tensor_from_info(path: str, ti: Any) -> Any:
    """A torch tensor from the safe reader's bytes, honouring storage offset and stride."""
    import torch

    from yolofreeze.core.checkpoint.reader import read_tensor_bytes

    dtype = getattr(torch, ti.location.storage_dtype)
    raw = bytearray(read_tensor_bytes(path, ti))  # writable: frombuffer would warn on bytes
    storage = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
    return torch.as_strided(storage, ti.shape, ti.location.stride or (), ti.location.offset).clone()


def build_input_checkpoint(src: str, out: Path, model_cls: Any) -> dict[str, int]:
    """Rebuild the network from the YAML with train.py's own model class and load the safe tensors."""

    from yolofreeze.core.checkpoint.reader import read_checkpoint

    info = read_checkpoint(src)
    info.require_safe("train from it")  # the launcher checked too; the file may have changed since
    assert info.yaml is not None, "no model YAML"
    from yolofreeze.core.checkpoint.yamlgate import gated_cfg

    nc = info.metadata.nc or int(info.yaml.get("nc", 80))
    # parse_model eval()s YAML strings: build from the gate's fresh copy, never the file's dict;
    # train.py then copies this normalised YAML into last.pt/best.pt
    model = model_cls(gated_cfg(info.yaml, src), ch=3, nc=nc)
    sd = {t.name: tensor_from_info(src, t) for t in (*info.parameters, *info.buffers) if t.location is not None}
    own = model.state_dict()
    bad = [k for k, v in sd.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if bad:
        raise ValueError(f"checkpoint tensors do not fit the model rebuilt from its YAML: {bad[:3]}")
    missing, unexpected = model.load_state_dict({k: v for k, v in sd.items() if k in own}, strict=False)
    missing_params = [k for k in missing if k in dict(model.named_parameters())]
    if missing_params:
        raise ValueError(f"checkpoint lacks parameters the model has: {missing_params[:3]}")
    if info.metadata.names:
        model.names = list(info.metadata.names)
    from yolofreeze.core.training.child.build import save_stripped

    save_stripped(model, out)  # atomic: DDP ranks may race here, each writing the same content
    return {"loaded": len(sd), "missing_buffers": len(missing), "unexpected": len(unexpected)}


def frozen_bn_names(model: Any, frozen: set[str]) -> list[str]:
    """BatchNorm modules whose affine parameters are all in the plan (the BN policy's scope)."""
    import torch

    out = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            params = [f"{name}.{p}" for p, _ in m.named_parameters(recurse=False)]
            if params and all(p in frozen for p in params):
                out.append(name)
    return out


class FreezeHook:
    """Applies the plan when train.py builds its optimizer, then keeps frozen BN layers in eval."""

    def __init__(self, frozen: set[str], bn_eval: bool, run_dir: Path) -> None:
        self.frozen = frozen
        self.bn_eval = bn_eval
        self.run_dir = run_dir
        self.model: Any = None
        self.bn: list[str] = []

    def wrap_optimizer(self, original: Any) -> Any:
        def smart_optimizer(model: Any, *args: Any, **kwargs: Any) -> Any:
            self.apply(model)
            return original(model, *args, **kwargs)

        return smart_optimizer

    def apply(self, model: Any) -> None:
        names = dict(model.named_parameters())
        missing = sorted(self.frozen - set(names))
        if missing:
            raise RuntimeError(f"plan names {len(missing)} parameters the training model lacks: {missing[:3]}")
        for name, p in names.items():  # train.py's semantics: everything trainable, then the plan frozen
            p.requires_grad = name not in self.frozen
        self.model = model
        self.bn = frozen_bn_names(model, self.frozen) if self.bn_eval else []
        self.eval_bn()
        print(
            f"yolofreeze: froze exactly {len(self.frozen)} of {len(names)} parameters "
            f"({sum(p.numel() for n, p in names.items() if n in self.frozen):,} values); "
            f"BatchNorm policy: {'frozen BN layers in eval mode' if self.bn_eval else 'off'}"
            f"{f' ({len(self.bn)} layers)' if self.bn_eval else ''}",
            flush=True,
        )
        if MAIN:
            BestEffortWriter(self.run_dir).write(
                "frozen-applied.json",
                {
                    "requires_grad_false": sorted(n for n, p in names.items() if not p.requires_grad),
                    "bn_eval": self.bn,
                    "policy": self.bn_eval,
                    "total": len(names),
                },
            )

    def set_phase(self, frozen: set[str], bn_eval: bool) -> None:
        """A schedule's next phase (child/phases.py sets requires_grad): which BN layers stay in eval."""
        self.frozen, self.bn_eval = frozen, bn_eval
        self.bn = frozen_bn_names(self.model, frozen) if bn_eval else []

    def eval_bn(self, *args: Any) -> None:
        if self.model is None or not self.bn:
            return
        for name in self.bn:  # by name: SyncBatchNorm conversion may replace the module objects
            self.model.get_submodule(name).eval()


class ProgressWriter:
    def __init__(self, run_dir: Path, epochs: int, writer: BestEffortWriter | None = None) -> None:
        self.path = run_dir / "progress.json"
        self.writer = writer or BestEffortWriter(run_dir)
        self.d: dict[str, Any] = {"epoch": 0, "epochs": epochs, "batch": 0, "batches": 0}
        self.last = 0.0
        self.epoch = -1

    def train_start(self, *a: Any) -> None:
        self.d["started"] = time.time()
        self.flush(True)

    def epoch_start(self, *a: Any) -> None:
        self.epoch += 1
        self.d.update(epoch=self.epoch, batch=0)

    def batch_end(self, model: Any, ni: int, imgs: Any, targets: Any, paths: Any, mloss: Any, *a: Any) -> None:
        self.d["batch"] = int(self.d["batch"]) + 1
        with contextlib.suppress(TypeError, ValueError):
            self.d["losses"] = [float(x) for x in mloss]
        self.flush(self.d["batch"] == self.d["batches"])

    def flush(self, force: bool = False) -> None:
        now = time.time()
        if not MAIN or (not force and now - self.last < 0.5):
            return
        self.last = now
        self.d["updated"] = now
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                self.d["torch_reserved"] = int(torch.cuda.memory_reserved())
                self.d["torch_max_reserved"] = int(torch.cuda.max_memory_reserved())
        self.writer.write(self.path.name, self.d)


def import_train_module(yolov5_dir: str | None) -> tuple[Any, tuple[str, ...], Path | None]:
    from yolofreeze.core.thirdparty import quiet_env
    from yolofreeze.core.training.child import offline

    quiet_env()  # before train.py imports ultralytics: no banner, no ~/.config/Ultralytics

    if yolov5_dir:
        root = Path(yolov5_dir)
        sys.path.insert(0, str(root))
        # Patch the helpers before train.py runs its import-time checks (check_git_info …).
        general = importlib.import_module("utils.general")
        offline.patch_modules(("models", "utils"), root)
        del general
        return importlib.import_module("train"), ("models", "utils", "train", "val"), root
    importlib.import_module("yolov5.utils.general")
    offline.patch_modules(("yolov5",))
    return importlib.import_module("yolov5.train"), ("yolov5",), None


def _try_except_class(roots: tuple[str, ...]) -> Any:
    """yolov5's own TryExcept (the pip package's or the clone's), for the test pause at check_anchors."""
    return importlib.import_module("yolov5.utils" if roots == ("yolov5",) else "utils").TryExcept


class StopPoints:
    """The boundaries where a requested stop is raised: yolov5 callbacks and our wrappers, none inside a TryExcept."""

    def __init__(self, run_dir: Path, stop: StopControl, progress: ProgressWriter) -> None:
        self.run_dir = run_dir
        self.stop = stop
        self.progress = progress
        self.loaders = 0

    def pause(self, stage: str) -> None:
        pause_point(self.run_dir, stage, lambda: self.stop.requested)

    def check(self, where: str, *a: Any, **k: Any) -> None:
        self.stop.check(where)

    def wrap_dataloader(self, original: Any) -> Any:
        def create_dataloader(*a: Any, **k: Any) -> Any:
            self.loaders += 1
            if self.loaders == 1:
                self.pause("dataloader")
            result = original(*a, **k)
            if not self.progress.d["batches"]:  # the first loader built is the training one
                self.progress.d["batches"] = len(result[0])
            self.stop.check("after building a dataloader")
            return result

        return create_dataloader

    def wrap_check_anchors(self, original: Any, try_except: Any) -> Any:
        def paused(*a: Any, **k: Any) -> Any:
            self.pause("anchors")
            return original(*a, **k)

        # The test pause sits inside a yolov5 TryExcept, exactly where a KeyboardInterrupt used to be swallowed.
        inner = try_except("AutoAnchor")(paused) if os.environ.get(PAUSE_ENV) == "anchors" else original

        def check_anchors(*a: Any, **k: Any) -> Any:
            result = inner(*a, **k)
            self.stop.check("after check_anchors")  # outside the TryExcept around check_anchors
            return result

        return check_anchors

    def epoch_start(self, *a: Any) -> None:
        self.pause(f"epoch:{self.progress.epoch}")
        self.stop.check(f"epoch {self.progress.epoch} start")

    def batch_start(self, *a: Any) -> None:
        self.pause(f"batch:{self.progress.epoch}:{self.progress.d['batch']}")
        self.stop.check(f"epoch {self.progress.epoch} batch {self.progress.d['batch']}")

    def register(self, callbacks: Any, hook: FreezeHook, status: Status) -> None:
        p = self.progress
        callbacks.register_action("on_pretrain_routine_start", "yolofreeze", lambda *a: self.check("pretrain start"))
        callbacks.register_action("on_pretrain_routine_end", "yolofreeze", lambda *a: self.check("pretrain end"))
        callbacks.register_action("on_train_start", "yolofreeze", p.train_start)
        callbacks.register_action("on_train_start", "yolofreeze-stop", lambda *a: self.check("train start"))
        callbacks.register_action("on_train_epoch_start", "yolofreeze", p.epoch_start)
        callbacks.register_action("on_train_epoch_start", "yolofreeze-stop", self.epoch_start)
        callbacks.register_action("on_train_batch_start", "yolofreeze", hook.eval_bn)
        callbacks.register_action("on_train_batch_start", "yolofreeze-stop", self.batch_start)
        callbacks.register_action("on_train_batch_end", "yolofreeze", p.batch_end)
        callbacks.register_action("on_train_batch_end", "yolofreeze-stop", lambda *a: self.check("batch end"))
        # After last.pt of the epoch is on disk: a stop here keeps that epoch's weights.
        callbacks.register_action("on_model_save", "yolofreeze-stop", lambda *a: self.check("epoch saved"))
        callbacks.register_action("on_train_end", "yolofreeze", lambda *a: status.set(phase="finishing"))


def train(run_dir: Path) -> int:
    writer = BestEffortWriter(run_dir)
    stop = StopControl(run_dir)
    stop.install()  # first: a stop at any later instant is seen
    stop.raise_now = True  # our own start-up: no TryExcept to fear, stop at once
    status = Status(run_dir, writer)
    progress: ProgressWriter | None = None
    try:
        from yolofreeze.core.paths import cache_dir
        from yolofreeze.core.training.child import offline, phases

        config = read_json(run_dir / "config.json") or {}
        if os.environ.get("YOLOFREEZE_FORBID_NETWORK"):
            offline.forbid_network(run_dir / "network-attempts.log")
        os.environ["YOLOV5_CONFIG_DIR"] = str(offline.prepare_config_dir(cache_dir() / "yolov5-config"))
        offline.pillow_getsize_shim()
        offline.quiet_known_warnings()
        kw = dict(config["train_kwargs"])
        save_dirs: list[Path] = [run_dir.resolve()]
        offline.narrow_torch_load(lambda: save_dirs)
        status.set(phase="importing")
        stop.check("start-up")
        _paused(run_dir, "import", stop)
        tm, roots, root = import_train_module(config.get("yolov5_dir"))
        offline.patch_modules(roots, root)
        offline.atomic_torch_save()
        stop.check("after importing train.py")
        frozen = set((run_dir / "frozen.txt").read_text(encoding="utf-8").split())
        status.set(phase="preparing")
        out = Path(kw["weights"])
        if not out.is_file():
            from yolofreeze.core.training.inputs import inputs_root_for, provide_input

            provided = provide_input(
                out,
                config["checkpoint"],
                lambda p: build_input_checkpoint(config["checkpoint"], p, tm.Model),
                inputs_root_for(run_dir),
            )
            print(f"yolofreeze: {out.name}: {provided.describe()}", flush=True)
        stop.check("after rebuilding the checkpoint")
        stop.raise_now = False  # from here on yolov5 runs: stop at the boundaries only
        hook = FreezeHook(frozen, bool(config.get("bn_eval", True)), run_dir)
        tm.smart_optimizer = hook.wrap_optimizer(tm.smart_optimizer)
        staged = phases.install(run_dir, tm, hook, MAIN)  # None for a plain plan
        progress = ProgressWriter(run_dir, int(kw["epochs"]), writer)
        points = StopPoints(run_dir, stop, progress)
        tm.create_dataloader = points.wrap_dataloader(tm.create_dataloader)
        tm.check_anchors = points.wrap_check_anchors(tm.check_anchors, _try_except_class(roots))
        original_train = tm.train

        def train_fn(hyp: Any, opt: Any, device: Any, callbacks: Any) -> Any:
            save_dirs.append(Path(opt.save_dir).resolve())
            status.set(phase="training", save_dir=str(Path(opt.save_dir).resolve()), devices=_devices(device))
            return original_train(hyp, opt, device, callbacks)

        tm.train = train_fn
        callbacks = tm.Callbacks()
        points.register(callbacks, hook, status)
        if staged is not None:
            staged.register(callbacks)
        opt = tm.parse_opt(True)
        for k, v in kw.items():
            setattr(opt, k, v)
        tm.main(opt, callbacks)
        # A stop asked for before train.py returned wins over its natural end (the last
        # validation, stripping the optimizer): the user asked for it and was told it stops.
        stop.check("after training")
    except (StopRequested, KeyboardInterrupt) as e:
        _quiet_signals(stop)
        if progress is not None:
            progress.flush(True)  # the record shows exactly where it stopped, not a throttled moment before
        status.set(phase="stopped", ending="stopped", exit_code=130, stopped_at=str(e) or stop.reason)
        _log(f"training stopped on request ({e or stop.reason})")
        return 130
    except BaseException as e:
        _quiet_signals(stop)
        traceback.print_exc()
        full = no_space_message(e) if isinstance(e, OSError) else None
        if full:
            _log(full)
            status.set(phase="failed", ending="crashed", exit_code=1, error=full, no_space=full)
        else:
            status.set(phase="failed", ending="crashed", exit_code=1, error=f"{type(e).__name__}: {str(e)[:200]}")
        return 1
    _quiet_signals(stop)
    if MAIN:
        status.set(phase="verifying")
        _verify(run_dir, status)
        status.set(phase="done", ending="finished", exit_code=0)
    return 0


def _paused(run_dir: Path, stage: str, stop: StopControl) -> None:
    """A test pause during our own start-up: a signal there sets the flag, and where ``raise_now``
    was on (a signal would have raised at once) the end of the pause raises, not a later check."""
    before, stop.raise_now = stop.raise_now, False
    try:
        pause_point(run_dir, stage, lambda: stop.requested)
    finally:
        stop.raise_now = before
    if before:
        stop.check(stage)


def _quiet_signals(stop: StopControl) -> None:
    # The ending is being recorded: a late signal must not turn it into a traceback.
    stop.close()
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _devices(device: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):
        import torch

        if getattr(device, "type", "") == "cuda":
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                uuid = str(getattr(p, "uuid", ""))
                out.append(
                    {
                        "cuda_index": i,
                        "name": p.name,
                        "uuid": uuid if not uuid or uuid.startswith("GPU-") else f"GPU-{uuid}",
                    }
                )
    return out


def _verify(run_dir: Path, status: Status) -> None:
    from yolofreeze.core.training.verify import verify_run_dir

    try:
        v = verify_run_dir(run_dir)
    except Exception as e:  # the training did finish; a failed check is reported, not fatal
        print(f"yolofreeze: after-run check could not run: {type(e).__name__}: {e}", flush=True)
        return
    print(f"yolofreeze: after-run check: {v.summary}", flush=True)
    for phase in v.phases:
        print(f"yolofreeze:   {phase['line']}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("supervise", "train"):
        print("usage: python -m yolofreeze.core.training.child.runner supervise|train RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[1])
    return supervise(run_dir) if argv[0] == "supervise" else train(run_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = [
    "BestEffortWriter",
    "FreezeHook",
    "StopControl",
    "StopRequested",
    "build_input_checkpoint",
    "frozen_bn_names",
    "main",
    "tensor_from_info",
]
