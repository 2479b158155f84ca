"""The code that runs inside the training processes (``python -m yolofreeze.core.training.child.runner supervise|train RUN_DIR``).

``supervise``: the detached session leader. It starts the trainer (or torch.distributed.run for
DDP) in its own process group, ignores SIGINT/SIGTERM so that it outlives a stop and can record
the exit code in ``exit.json`` — the one thing a later ``attach`` cannot reconstruct otherwise.

``train``: YOLOv5's own training (``yolov5.train`` from the pip package, or a clone's ``train.py``)
with three things added at patch points train.py already has:
- the checkpoint it loads is one we rebuilt from safely read tensors (``input.pt``);
- the exact plan is frozen in a wrapper around ``smart_optimizer``: it runs after train.py built
  the model and applied its own (whole-layer) freeze, and before any optimizer state exists;
- frozen BatchNorm layers go back to eval mode at every batch start (train.py calls
  ``model.train()`` at each epoch start, after ``on_train_epoch_start``).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from yolofreeze.core.training.runs import read_json, write_json_atomic

RANK = int(os.environ.get("RANK", -1))
LOCAL_RANK = int(os.environ.get("LOCAL_RANK", -1))
MAIN = RANK in (-1, 0)


def supervise(run_dir: Path) -> int:
    config = read_json(run_dir / "config.json") or {}
    cmd = config["train_command"]
    # Stay alive through the stop signals sent to the whole group: the trainer unwinds, we record.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"yolofreeze: supervisor {os.getpid()} starting: {' '.join(cmd)}", flush=True)
    started = time.time()
    child = subprocess.Popen(cmd, preexec_fn=_default_signals)
    rc = child.wait()
    write_json_atomic(run_dir / "exit.json", {"returncode": rc, "started": started, "ended": time.time()})
    print(f"yolofreeze: training process exited with {rc}", flush=True)
    return 0


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Status:
    """status.json: the runner's phase, save_dir and how it ended (rank 0 only writes)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "status.json"
        self.data: dict[str, Any] = {"phase": "preparing", "pid": os.getpid()}

    def set(self, **kw: Any) -> None:
        self.data.update(kw)
        if MAIN:
            write_json_atomic(self.path, self.data)


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
    nc = info.metadata.nc or int(info.yaml.get("nc", 80))
    model = model_cls(copy.deepcopy(info.yaml), ch=3, nc=nc)
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
    from yolofreeze.core.demo import save_stripped

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
            write_json_atomic(
                self.run_dir / "frozen-applied.json",
                {
                    "requires_grad_false": sorted(n for n, p in names.items() if not p.requires_grad),
                    "bn_eval": self.bn,
                    "policy": self.bn_eval,
                    "total": len(names),
                },
            )

    def eval_bn(self, *args: Any) -> None:
        if self.model is None or not self.bn:
            return
        for name in self.bn:  # by name: SyncBatchNorm conversion may replace the module objects
            self.model.get_submodule(name).eval()


class ProgressWriter:
    def __init__(self, run_dir: Path, epochs: int) -> None:
        self.path = run_dir / "progress.json"
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
        write_json_atomic(self.path, self.d)


def import_train_module(yolov5_dir: str | None) -> tuple[Any, tuple[str, ...], Path | None]:
    from yolofreeze.core.training.child import offline

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


def train(run_dir: Path) -> int:
    from yolofreeze.core.demo import cache_dir
    from yolofreeze.core.training.child import offline

    config = read_json(run_dir / "config.json") or {}
    status = Status(run_dir)
    if os.environ.get("YOLOFREEZE_FORBID_NETWORK"):
        offline.forbid_network(run_dir / "network-attempts.log")
    os.environ["YOLOV5_CONFIG_DIR"] = str(offline.prepare_config_dir(cache_dir() / "yolov5-config"))
    offline.pillow_getsize_shim()
    kw = dict(config["train_kwargs"])
    save_dirs: list[Path] = [run_dir.resolve()]
    offline.narrow_torch_load(lambda: save_dirs)
    status.set(phase="importing")
    try:
        tm, roots, root = import_train_module(config.get("yolov5_dir"))
        offline.patch_modules(roots, root)
        frozen = set((run_dir / "frozen.txt").read_text(encoding="utf-8").split())
        status.set(phase="preparing")
        out = Path(kw["weights"])
        if not out.is_file():
            stats = build_input_checkpoint(config["checkpoint"], out, tm.Model)
            print(
                f"yolofreeze: rebuilt {out.name} from the safely read checkpoint ({stats['loaded']} tensors)",
                flush=True,
            )
        hook = FreezeHook(frozen, bool(config.get("bn_eval", True)), run_dir)
        tm.smart_optimizer = hook.wrap_optimizer(tm.smart_optimizer)
        progress = ProgressWriter(run_dir, int(kw["epochs"]))
        original_loader = tm.create_dataloader

        def create_dataloader(*a: Any, **k: Any) -> Any:
            result = original_loader(*a, **k)
            if not progress.d["batches"]:  # the first loader built is the training one
                progress.d["batches"] = len(result[0])
            return result

        tm.create_dataloader = create_dataloader
        original_train = tm.train

        def train_fn(hyp: Any, opt: Any, device: Any, callbacks: Any) -> Any:
            save_dirs.append(Path(opt.save_dir).resolve())
            status.set(phase="training", save_dir=str(Path(opt.save_dir).resolve()), devices=_devices(device))
            return original_train(hyp, opt, device, callbacks)

        tm.train = train_fn
        callbacks = tm.Callbacks()
        callbacks.register_action("on_train_start", "yolofreeze", progress.train_start)
        callbacks.register_action("on_train_epoch_start", "yolofreeze", progress.epoch_start)
        callbacks.register_action("on_train_batch_start", "yolofreeze", hook.eval_bn)
        callbacks.register_action("on_train_batch_end", "yolofreeze", progress.batch_end)
        callbacks.register_action("on_train_end", "yolofreeze", lambda *a: status.set(phase="finishing"))
        opt = tm.parse_opt(True)
        for k, v in kw.items():
            setattr(opt, k, v)
        tm.main(opt, callbacks)
    except KeyboardInterrupt:
        status.set(phase="stopped", ending="stopped")
        print("yolofreeze: training interrupted (stop requested)", flush=True)
        return 130
    except BaseException as e:
        traceback.print_exc()
        status.set(phase="failed", ending="crashed", error=f"{type(e).__name__}: {str(e)[:200]}")
        return 1
    if MAIN:
        status.set(phase="verifying")
        _verify(run_dir, status)
        status.set(phase="done", ending="finished")
    return 0


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


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("supervise", "train"):
        print("usage: python -m yolofreeze.core.training.child.runner supervise|train RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[1])
    return supervise(run_dir) if argv[0] == "supervise" else train(run_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = ["FreezeHook", "build_input_checkpoint", "frozen_bn_names", "json", "main", "tensor_from_info"]
