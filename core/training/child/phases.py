"""Staged unfreezing inside the training process: each phase applied exactly at its epoch start.

Installed by the runner only when the run has a ``schedule.json`` (a plain plan keeps the
runner's FreezeHook path unchanged). At every ``on_train_epoch_start`` (all ranks) the phase in
force for that epoch is applied when it differs from the current one:

- ``requires_grad`` exactly as the phase says; a parameter that becomes frozen loses its grad,
  so SGD/Adam skip it (yolov5's optimizer already holds every parameter);
- the BatchNorm policy: the runner's hook keeps the phase's frozen BN layers in eval at each batch
  start (train.py's ``model.train()`` comes after the callback);
- learning-rate multipliers: at optimizer build every one of train.py's 3 groups is split, so the
  parameters of each named lr group sit in their own sub-group tagged with its parent. train.py's
  warm-up and LambdaLR rewrite ``group["lr"]`` of every group each iteration/epoch; a step
  pre-hook then sets each sub-group's lr (and momentum) to its parent's times the phase's
  multiplier, so the multiplier holds at every optimizer step, whatever wrote the lr before;
- DDP: a DDP wrapper built while some parameters were frozen has left them out of its reducer
  (and yolov5 builds it with ``static_graph=True``): when the trainable set changes, the wrapper is
  re-initialised in place on every rank at the same epoch start (it re-broadcasts rank 0's state
  and builds a reducer over the now-trainable parameters). bench/staged_ddp_check.py checks it.
- EMA is not touched: it keeps averaging the model as train.py does.

At each phase boundary and at the end, rank 0 writes hashes of every parameter and BN running
statistic to ``phases.json``; the after-run check (verify.py) reads them per phase. The epoch in
force is train.py's own count (``smart_resume``'s start epoch on ``--resume``), so a resumed run
lands in the right phase.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from yolofreeze.core.plan.schedule import Schedule, written_schedule
from yolofreeze.core.training.runs import read_json, write_json_atomic

PHASES_FILE = "phases.json"


def tensor_digest(t: Any) -> str:
    """sha256 of the tensor as contiguous little-endian float32 (verify.py hashes the input file the same way)."""
    a = t.detach().float().cpu().contiguous().numpy()
    return hashlib.sha256(a.astype("<f4", copy=False).tobytes()).hexdigest()[:24]


class PhaseController:
    def __init__(self, schedule: Schedule, hook: Any, run_dir: Path, main: bool) -> None:
        self.schedule = schedule
        self.hook = hook  # the runner's FreezeHook: owns the model and the BN eval list
        self.run_dir = run_dir
        self.main = main
        self.current: int | None = None
        self.start_epoch = 0
        self.epochs_started = 0
        self.optimizer: Any = None
        self.ddp: Any = None
        self.subgroups: list[tuple[int, str]] = []  # per extra param group: (parent index, lr group)
        self.lr_seen: dict[int, dict[str, Any]] = {}
        self.record: dict[str, Any] = {"snapshots": [], "lr_seen": [], "ddp_rebuilds": 0}

    # --- wrappers around train.py's helpers -------------------------------------------------

    def wrap_optimizer(self, inner: Any) -> Any:
        def smart_optimizer(model: Any, *a: Any, **k: Any) -> Any:
            opt = inner(model, *a, **k)  # the runner's hook applied phase 0's frozen set first
            self.split_groups(opt, model)
            opt.register_step_pre_hook(self.sync_lr)
            self.optimizer = opt
            return opt

        return smart_optimizer

    def wrap_resume(self, original: Any) -> Any:
        def smart_resume(*a: Any, **k: Any) -> Any:
            best, start, epochs = original(*a, **k)
            self.start_epoch = int(start)
            return best, start, epochs

        return smart_resume

    def wrap_ddp(self, original: Any) -> Any:
        def smart_ddp(model: Any) -> Any:
            self.ddp = original(model)
            return self.ddp

        return smart_ddp

    # --- learning-rate groups ----------------------------------------------------------------

    def split_groups(self, opt: Any, model: Any) -> None:
        if not self.schedule.lr_groups:
            return
        name_of = {id(p): n for n, p in model.named_parameters()}
        group_of = self.schedule.group_of(name_of.values())
        parents = list(opt.param_groups)
        for j, g in enumerate(parents):
            for lr_group, _ in self.schedule.lr_groups:
                moved = [p for p in g["params"] if group_of.get(name_of.get(id(p), "")) == lr_group]
                if not moved:
                    continue
                keep = {id(p) for p in moved}
                g["params"] = [p for p in g["params"] if id(p) not in keep]
                opt.add_param_group({k: v for k, v in g.items() if k != "params"} | {"params": moved})
                self.subgroups.append((j, lr_group))

    def sync_lr(self, opt: Any, *_: Any) -> None:
        phase = self.schedule.phases[self.current or 0]
        n = len(opt.param_groups) - len(self.subgroups)
        for k, (j, lr_group) in enumerate(self.subgroups):
            parent, sub = opt.param_groups[j], opt.param_groups[n + k]
            sub["lr"] = parent["lr"] * phase.multiplier(lr_group)
            if "momentum" in parent:
                sub["momentum"] = parent["momentum"]
        epoch = self.start_epoch + self.epochs_started - 1
        if self.main and self.subgroups and epoch not in self.lr_seen:  # the first step of each epoch, as proof
            self.lr_seen[epoch] = {
                "epoch": epoch,
                "groups": [
                    {"group": g, "parent": j, "parent_lr": float(opt.param_groups[j]["lr"]), "lr": float(s["lr"])}
                    for (j, g), s in zip(self.subgroups, opt.param_groups[n:], strict=True)
                ],
            }
            self.record["lr_seen"] = list(self.lr_seen.values())

    # --- phases --------------------------------------------------------------------------------

    def epoch_start(self, *_: Any) -> None:
        epoch = self.start_epoch + self.epochs_started
        self.epochs_started += 1
        idx = self.schedule.phase_index(epoch)
        if idx == self.current:
            return
        self.apply(idx, epoch)

    def apply(self, idx: int, epoch: int) -> None:
        model = self.hook.model
        phase = self.schedule.phases[idx]
        before = {n for n, p in model.named_parameters() if p.requires_grad}
        for name, p in model.named_parameters():
            p.requires_grad = name not in phase.frozen
            if not p.requires_grad:
                p.grad = None  # no stale gradient steps a parameter that is frozen from now on
        self.hook.set_phase(set(phase.frozen), phase.bn_eval)
        after = {n for n, p in model.named_parameters() if p.requires_grad}
        if self.ddp is not None and after != before:
            rebuild_ddp(self.ddp)
            self.record["ddp_rebuilds"] += 1
        self.current = idx
        self.snapshot(epoch, idx)
        print(
            f"yolofreeze: epoch {epoch}: phase {idx} — {len(phase.frozen)} tensors frozen, "
            f"{len(after)} trainable" + (f"; lr {', '.join(f'{g} x{m:g}' for g, m in phase.lr)}" if phase.lr else ""),
            flush=True,
        )

    def train_end(self, *_: Any) -> None:
        self.snapshot(self.start_epoch + self.epochs_started, None)

    def snapshot(self, epoch: int, phase: int | None) -> None:
        """Hashes of every parameter and BN running statistic now (before ``epoch`` runs)."""
        if not self.main:
            return
        import torch

        model = self.hook.model
        bn: dict[str, str] = {}
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                bn[f"{name}.running_mean"] = tensor_digest(m.running_mean)
                bn[f"{name}.running_var"] = tensor_digest(m.running_var)
        self.record["snapshots"].append(
            {
                "before_epoch": epoch,
                "phase": phase,  # the phase that starts here; None: the run's end
                "bn_eval": list(self.hook.bn),
                "params": {n: tensor_digest(p) for n, p in model.named_parameters()},
                "bn": bn,
            }
        )
        self.write()

    def write(self) -> None:
        with contextlib.suppress(OSError):  # monitoring never kills a training
            write_json_atomic(self.run_dir / PHASES_FILE, self.record)

    def trim_logged_lr(self, log_vals: Any, *_: Any) -> None:
        """train.py logs one lr per param group (x/lr0..2); our sub-groups would break its results.csv row."""
        if self.subgroups and isinstance(log_vals, list):
            del log_vals[len(log_vals) - len(self.subgroups) :]  # in place: the loggers get the same list

    def register(self, callbacks: Any) -> None:
        # Registered before train.py adds its loggers, so this runs first on the shared list.
        callbacks.register_action("on_fit_epoch_end", "yolofreeze-phases", self.trim_logged_lr)
        callbacks.register_action("on_train_epoch_start", "yolofreeze-phases", self.epoch_start)
        callbacks.register_action("on_train_end", "yolofreeze-phases", self.train_end)


def rebuild_ddp(ddp: Any) -> None:
    """Re-initialise a DDP wrapper in place over its module, so its reducer covers what is trainable now.

    train.py keeps the wrapper in a local variable: it has to be the same object. All ranks call
    this at the same epoch start (a collective: DDP's init broadcasts rank 0's parameters and
    buffers, which also re-synchronises the parameters that were frozen until now).
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    static = bool(getattr(ddp, "static_graph", False))
    DDP.__init__(ddp, ddp.module, device_ids=ddp.device_ids, output_device=ddp.output_device, static_graph=static)


def install(run_dir: Path, tm: Any, hook: Any, main: bool) -> PhaseController | None:
    """Wrap train.py's helpers for the run's schedule; None for a plain plan (no schedule.json)."""
    doc = read_json(run_dir / "schedule.json")
    if not doc:
        return None
    ctl = PhaseController(written_schedule(doc), hook, run_dir, main)
    tm.smart_optimizer = ctl.wrap_optimizer(tm.smart_optimizer)
    tm.smart_resume = ctl.wrap_resume(tm.smart_resume)
    tm.smart_DDP = ctl.wrap_ddp(tm.smart_DDP)
    old = read_json(run_dir / PHASES_FILE)
    if old:  # a resumed run keeps the snapshots of the phases already run
        ctl.record["snapshots"] = list(old.get("snapshots", []))
    return ctl
