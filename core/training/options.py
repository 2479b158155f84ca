"""Training settings: one home for the choices, the defaults and the rules.

The CLI (`train`, `estimate`), the launch form, the main screen's settings, the memory estimator
and the launcher all read these, so a default or a rule changes in one place. The rules are
train.py's own (7.0.14): what it would reject, or silently change, is said before anything runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from yolofreeze.core.checkpoint.reader import ModelInfo

OPTIMIZERS = ("SGD", "Adam", "AdamW")


@dataclass(frozen=True)
class Defaults:
    """train.py's defaults where it has one; ours where it has none that makes sense offline."""

    epochs: int = 100
    batch: int = 16  # total batch, train.py --batch-size (DDP splits it across GPUs)
    img: int = 640  # train.py --img
    optimizer: str = "SGD"
    workers: int = 8
    device: str = ""  # "" = the first GPU if any, else the CPU
    project: str = "runs/train"
    name: str = "exp"
    gpus: int = 1
    amp: bool = True


DEFAULTS = Defaults()

MAX_BATCH = 4096
MAX_IMG = 8192
MAX_EPOCHS = 100_000
MAX_WORKERS = 256
MAX_GPUS = 64


def image_step(strides: tuple[float, ...], anchor_levels: int = 3) -> int:
    """train.py's grid size: ``max(int(model.stride.max()), 32)``.

    ``strides`` are the checkpoint's own Detect strides (8, 16, 32 or 8 … 64 for P6); a file
    without them (a bare state dict) falls back to what its anchor levels imply (4 levels = P6).
    """
    finite = [s for s in strides if isinstance(s, (int, float)) and math.isfinite(s) and 0 < s <= 1024]
    if finite:
        return max(int(max(finite)), 32)
    return 64 if anchor_levels > 3 else 32


def model_image_step(info: ModelInfo) -> int:
    """:func:`image_step` for a checkpoint: its stored strides, else its YAML's output levels."""
    return image_step(info.metadata.stride, info.detection_levels)


P6_IMG = 1280  # the size yolov5's P6 models (yolov5n6 … x6) are trained and published at


def model_img(info: ModelInfo) -> int:
    """The image size to start from for this checkpoint: the one it was trained at when its saved
    options say (``opt.imgsz``, as train.py stores it), else 1280 for a P6 model, else train.py's
    default; always one train.py would train at (a multiple of the grid, two cells at least)."""
    step = model_image_step(info)
    saved = info.metadata.training_options.get("imgsz")
    if isinstance(saved, list) and saved:
        saved = saved[0]
    if isinstance(saved, int) and not isinstance(saved, bool) and 2 * step <= saved <= MAX_IMG:
        return effective_img(saved, step)
    return effective_img(P6_IMG if info.detection_levels > 3 else DEFAULTS.img, step)


def effective_img(img: int, step: int) -> int:
    """The image size train.py trains at: ``check_img_size(img, gs, floor=gs * 2)`` rounds up to a
    multiple of the grid size and never goes below two grid cells."""
    return max(-(-img // step) * step, 2 * step)


def accumulate(batch: int) -> int:
    """train.py's gradient accumulation: ``max(round(64 / batch), 1)`` micro-batches per step."""
    return max(round(64 / batch), 1)


def check_batch(batch: int, gpus: int = 1) -> str | None:
    if not 1 <= batch <= MAX_BATCH:
        return f"batch must be 1-{MAX_BATCH}, got {batch}"
    if not 1 <= gpus <= MAX_GPUS:
        return f"GPUs must be 1-{MAX_GPUS}, got {gpus}"
    if batch % gpus:
        return f"batch {batch} is not a multiple of {gpus} GPUs (DDP splits the batch evenly)"
    return None


def check_img(img: int, step: int = 32) -> str | None:
    if not step <= img <= MAX_IMG:
        return f"image size must be {step}-{MAX_IMG}, got {img}"
    return None


def check_img_as_trained(img: int, step: int) -> str | None:
    """A size train.py would silently change (rounded up to the grid, or raised to two cells): said
    before a run starts, so the run trains at the size the user typed and the estimate was for."""
    trained = effective_img(img, step)
    if trained != img:
        return (
            f"image size {img}: train.py would train at {trained} "
            f"(a multiple of {step}, at least {2 * step}); use {trained}"
        )
    return None


def check_epochs(epochs: int) -> str | None:
    if not 1 <= epochs <= MAX_EPOCHS:
        return f"epochs must be 1-{MAX_EPOCHS}, got {epochs}"
    return None


def check_workers(workers: int) -> str | None:
    if not 0 <= workers <= MAX_WORKERS:
        return f"workers must be 0-{MAX_WORKERS}, got {workers}"
    return None


def check_optimizer(optimizer: str) -> str | None:
    if optimizer not in OPTIMIZERS:
        return f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}"
    return None
