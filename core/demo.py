"""The built-in demo checkpoint: yolov5s from the yolov5 package's own YAML, nothing downloaded.

Weights are freshly initialised (no pretrained weights can be fetched offline), but the file is
a real YOLOv5 checkpoint in the pip package's format, as ``strip_optimizer`` leaves it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from yolofreeze.core.paths import cache_dir

DEMO_MODEL = "yolov5s"


def model_yaml_path(name: str) -> Path:
    """Path of a model YAML shipped inside the yolov5 package (``yolov5s`` or ``yolov5n6`` …)."""
    import importlib.util

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
    import datetime
    import logging

    import torch

    from yolofreeze.core.thirdparty import import_yolov5

    DetectionModel = import_yolov5("yolov5.models.yolo").DetectionModel  # quiet, out of the user's home

    import yaml

    from yolofreeze.core.checkpoint.yamlgate import gated_cfg

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


def save_stripped(model: Any, path: Path, date: str | None = None) -> None:
    """Save ``model`` as train.py's strip_optimizer leaves a checkpoint: fp16, frozen, no optimizer.

    Written to a temporary file beside ``path`` and renamed, so readers (and DDP ranks racing
    to write the same file) never see half of it.
    """
    import torch

    model.half()
    for p in model.parameters():
        p.requires_grad = False
    ckpt = {
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def demo_checkpoint_path() -> Path:
    return cache_dir() / f"demo-{DEMO_MODEL}.pt"


def demo_checkpoint() -> Path:
    """The demo checkpoint, built once into the user cache dir."""
    path = demo_checkpoint_path()
    if not path.is_file():
        build_checkpoint(DEMO_MODEL, path)
    return path


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
