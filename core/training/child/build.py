"""Build a YOLOv5 checkpoint from a model YAML: the demo checkpoint's process, and train.py's input.

``python -m yolofreeze.core.training.child.build MODEL OUT`` writes ``OUT``: ``MODEL`` (e.g.
``yolov5s``) built from the YAML shipped in the yolov5 package, freshly initialised (no weights
can be fetched offline), saved in the pip package's format as ``strip_optimizer`` leaves it. The
TUI and the CLI start it as a child (``yolofreeze.core.demo``), so their process never imports
torch; on failure it prints one line to stderr and exits 1.

``save_stripped`` is also how the training child writes the checkpoint it rebuilt for train.py.
"""

from __future__ import annotations

import datetime
import importlib.util
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from yolofreeze.core.checkpoint.yamlgate import gated_cfg
from yolofreeze.core.errors import YoloFreezeError
from yolofreeze.core.thirdparty import import_yolov5


def model_yaml_path(name: str) -> Path:
    """Path of a model YAML shipped inside the yolov5 package (``yolov5s`` or ``yolov5n6`` …)."""
    spec = importlib.util.find_spec("yolov5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the yolov5 package is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "models"
    for cand in (root / f"{name}.yaml", root / "hub" / f"{name}.yaml"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"no model YAML named {name} in the yolov5 package")


def build_checkpoint(cfg: str | dict[str, Any], path: Path, nc: int = 80, seed: int = 0) -> Path:
    """Write a stripped YOLOv5 checkpoint (fp16 model, no optimizer) built from ``cfg``."""
    DetectionModel = import_yolov5("yolov5.models.yolo").DetectionModel  # quiet, out of the user's home

    source = model_yaml_path(cfg) if isinstance(cfg, str) else None
    raw = yaml.safe_load(source.read_text(encoding="utf-8")) if source is not None else cfg
    torch.manual_seed(seed)
    yolo_log = logging.getLogger("yolov5")
    level = yolo_log.level
    yolo_log.setLevel(logging.WARNING)  # its 30-line model table is noise on the user's terminal
    try:
        # even a shipped YAML goes through the gate: one door for every build, no exceptions
        model = DetectionModel(gated_cfg(raw, str(source or "model YAML")), ch=3, nc=nc)
    finally:
        yolo_log.setLevel(level)
    if source is not None:
        model.yaml_file = source.name  # what building from the path sets (yolov5's model summary uses it)
    model.names = [f"class{i}" for i in range(nc)] if nc != 80 else list(_COCO80)
    save_stripped(model, path, date=datetime.datetime(2026, 1, 1).isoformat())
    return path


def stripped_checkpoint(model: Any, date: str | None) -> dict[str, Any]:
    """The dict yolov5's strip_optimizer leaves: the model in fp16 without gradients, no EMA or
    optimizer (converts ``model`` in place)."""
    model.half()
    for p in model.parameters():
        p.requires_grad = False
    return {
        "epoch": -1,
        "best_fitness": None,
        "model": model,
        "ema": None,
        "updates": None,
        "optimizer": None,
        "opt": None,
        "git": None,
        "date": date,
    }


def save_stripped(model: Any, path: Path, date: str | None = None) -> None:
    """Save ``model`` as train.py's strip_optimizer leaves a checkpoint: fp16, frozen, no optimizer.

    Written to a temporary file beside ``path`` and renamed, so readers (and DDP ranks racing
    to write the same file) never see half of it.
    """
    ckpt = stripped_checkpoint(model, date)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_COCO80_WORDS = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant "
    "stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe "
    "backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite baseball_bat "
    "baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork knife spoon bowl "
    "banana apple sandwich orange broccoli carrot hot_dog pizza donut cake chair couch "
    "potted_plant bed dining_table toilet tv laptop mouse remote keyboard cell_phone microwave "
    "oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier toothbrush"
)
_COCO80 = tuple(w.replace("_", " ") for w in _COCO80_WORDS.split())


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m yolofreeze.core.training.child.build MODEL OUT", file=sys.stderr)
        return 2
    name, out = argv
    try:
        build_checkpoint(name, Path(out))
    except (OSError, YoloFreezeError) as e:  # what a user's machine can cause; the parent shows this line
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(text, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
