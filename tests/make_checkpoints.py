"""Write real checkpoints for the tests and benches, from the yolov5 package's own YAMLs.

No weights can be downloaded here, so every file is a freshly initialised model saved with
torch.save exactly as the real tools save theirs:

- pip-style (``yolov5.models.*`` classes) and clone-style (``models.*``, as files from an
  ultralytics/yolov5 clone and the official releases), including the older ``models.yolo.Model``
  name and a Focus-era (v4) layer 0;
- stripped (fp16 model only) and training checkpoints (EMA, optimizer state, numpy values, paths);
- P6 (yolov5n6), the legacy non-zip format, a zip saved from a buffer (``archive/`` folder),
  a bare state dict, safetensors, and an Ultralytics YOLOv8 training checkpoint (``model`` None,
  network in ``ema``).

Usage: python tests/make_checkpoints.py OUTDIR [NAME ...]
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import io
import json
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from yolofreeze.core.thirdparty import quiet_env
from yolofreeze.core.training.child.build import build_checkpoint, model_yaml_path, stripped_checkpoint

quiet_env()  # every yolov5/ultralytics import below: no banner, nothing in the user's home


@contextlib.contextmanager
def clone_style(class_renames: dict[str, str] | None = None) -> Iterator[None]:
    """Pickle yolov5's classes under the ``models.*`` names a yolov5 clone uses."""
    import yolov5.models
    import yolov5.models.common
    import yolov5.models.yolo

    mods = {"models": yolov5.models, "models.yolo": yolov5.models.yolo, "models.common": yolov5.models.common}
    saved_sys = {k: sys.modules.get(k) for k in mods}
    changed: list[tuple[type, str, str]] = []
    sys.modules.update(mods)
    for short, mod in (("models.yolo", yolov5.models.yolo), ("models.common", yolov5.models.common)):
        for obj in vars(mod).values():
            if isinstance(obj, type) and obj.__module__ == mod.__name__:
                changed.append((obj, obj.__module__, obj.__qualname__))
                obj.__module__ = short
    for old, new in (class_renames or {}).items():
        cls = getattr(yolov5.models.yolo, old)
        cls.__qualname__ = new
    try:
        yield
    finally:
        for obj, module, qual in changed:
            obj.__module__ = module
            obj.__qualname__ = qual
        for k, v in saved_sys.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _model(cfg: str | dict[str, Any], nc: int = 80) -> torch.nn.Module:
    from yolov5.models.yolo import DetectionModel

    torch.manual_seed(0)
    cfg_arg = str(model_yaml_path(cfg)) if isinstance(cfg, str) else cfg
    m = DetectionModel(cfg_arg, ch=3, nc=nc)
    m.names = [f"c{i}" for i in range(nc)]
    return m


def _stripped(model: torch.nn.Module) -> dict[str, Any]:
    return stripped_checkpoint(copy.deepcopy(model), "2026-01-01T00:00:00")


def _training(model: torch.nn.Module) -> dict[str, Any]:
    """A checkpoint as train.py writes it mid-run: EMA, optimizer state, numpy and Path values."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    out = model(torch.zeros(1, 3, 64, 64))
    sum(o.sum() for o in out).backward()
    opt.step()
    ema = copy.deepcopy(model).half()
    return {
        "epoch": 3,
        "best_fitness": np.array([0.25]),
        "model": copy.deepcopy(model).half(),
        "ema": ema,
        "updates": 120,
        "optimizer": opt.state_dict(),
        "opt": {
            "weights": Path("/data/yolov5s.pt"),
            "epochs": 10,
            "batch_size": 16,
            "imgsz": 640,
            "freeze": [10],
            "save_dir": Path("runs/train/exp"),
            "lr": np.float64(0.01),
        },
        "git": {"remote": None, "branch": None, "commit": None},
        "date": datetime.datetime(2026, 1, 2).isoformat(),
    }


def _focus_cfg() -> dict[str, Any]:
    import yaml

    cfg = yaml.safe_load(model_yaml_path("yolov5s").read_text())
    cfg["backbone"][0] = [-1, 1, "Focus", [64, 3]]
    return cfg


def _save(obj: Any, path: Path, **kw: Any) -> None:
    torch.save(obj, path, **kw)


def _safetensors(sd: dict[str, torch.Tensor], path: Path) -> None:
    names = {torch.float16: "F16", torch.float32: "F32", torch.int64: "I64"}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for k, t in sd.items():
        b = t.contiguous().numpy().tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def _ultralytics(path: Path) -> None:
    from ultralytics.nn.tasks import DetectionModel as V8

    torch.manual_seed(0)
    m = V8("yolov8n.yaml", nc=80, verbose=False)
    ckpt = {
        "date": "2026-01-01",
        "version": "8.4",
        "epoch": 5,
        "best_fitness": 0.1,
        "model": None,
        "ema": copy.deepcopy(m).half(),
        "updates": 10,
        "optimizer": None,
        "train_args": {"model": "yolov8n.yaml", "epochs": 10, "imgsz": 640, "freeze": None},
    }
    _save(ckpt, path)


def _buffer_zip(model: torch.nn.Module, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(_stripped(model), buf)
    path.write_bytes(buf.getvalue())


BUILDERS: dict[str, Callable[[Path], None]] = {
    "yolov5s.pt": lambda p: build_checkpoint("yolov5s", p),
    "yolov5n.pt": lambda p: build_checkpoint("yolov5n", p),
    "yolov5m.pt": lambda p: build_checkpoint("yolov5m", p),
    "yolov5x.pt": lambda p: build_checkpoint("yolov5x", p),
    "yolov5n6.pt": lambda p: build_checkpoint("yolov5n6", p),
    "yolov5s-clone.pt": lambda p: _clone(lambda: _stripped(_model("yolov5s")), p),
    "yolov5n-oldmodel.pt": lambda p: _clone(lambda: _stripped(_model("yolov5n")), p, {"DetectionModel": "Model"}),
    "yolov5s-focus.pt": lambda p: _clone(lambda: _stripped(_model(_focus_cfg())), p),
    "yolov5n-train.pt": lambda p: _clone(lambda: _training(_model("yolov5n")), p),
    "yolov5n-train-pip.pt": lambda p: _save(_training(_model("yolov5n")), p),
    "yolov5n-legacy.pt": lambda p: _save(_stripped(_model("yolov5n")), p, _use_new_zipfile_serialization=False),
    "yolov5n-archive.pt": lambda p: _buffer_zip(_model("yolov5n"), p),
    "yolov5n-state_dict.pt": lambda p: _save(_stripped(_model("yolov5n"))["model"].state_dict(), p),
    "yolov5n.safetensors": lambda p: _safetensors(_stripped(_model("yolov5n"))["model"].state_dict(), p),
    "yolov8n.pt": _ultralytics,
}
# the sizes benches want but tests need not build
LARGE = {"yolov5m.pt", "yolov5x.pt"}


def _clone(make: Callable[[], dict[str, Any]], path: Path, renames: dict[str, str] | None = None) -> None:
    ckpt = make()
    with clone_style(renames):
        _save(ckpt, path)


def make(outdir: Path, names: list[str] | None = None) -> dict[str, Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    result = {}
    for name in names or [n for n in BUILDERS if n not in LARGE]:
        path = outdir / name
        if not path.exists():
            tmp = path.with_suffix(path.suffix + ".part")
            BUILDERS[name](tmp)
            tmp.replace(path)
        result[name] = path
    return result


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for n, p in make(Path(sys.argv[1]), sys.argv[2:] or None).items():
        print(f"{p}  {p.stat().st_size / 1e6:.1f} MB  ({n})")
