"""Predicted step and whole-run reserved memory against public YOLOv5 training logs.

yolov5's progress line prints ``GPU_mem`` = ``torch.cuda.memory_reserved() / 1E9`` (3 significant
digits). A log's epoch-0 figure is the training steps before the first validation; from epoch 1 on
it includes whatever the validation pass left reserved. We print, per log, our first-epoch step
figure (``plan.peak_reserved``) against epoch 0 and our whole-run figure (``plan_run.peak_reserved``) against
epoch 1+, as ratios. Nothing is fitted: the figures come from the traced model as the estimator
computes them for any user.

Usage: python bench/whole_run_memory.py
"""

from __future__ import annotations

import datetime
import logging
import platform
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class LogPoint:
    source: str
    model: str
    nc: int
    img: int
    batch: int  # total, as --batch-size
    gpus: int
    gpu: str
    torch: str
    epoch0: float  # GPU_mem, GB
    later: float  # GPU_mem from epoch 1 on, GB


# Only logs whose command line (or printed options) give the model, image size, batch and GPUs.
LOGS = (
    LogPoint(
        "ultralytics/yolov5 tutorial.ipynb (train cell output, torch 2.0 era; as cited in NOTES-memory.md)",
        "yolov5s",
        80,
        640,
        16,
        1,
        "Tesla T4",
        "2.0",
        3.91,
        4.76,
    ),
    LogPoint(
        "public GitHub README 'Dogs Pose Recognition' (emgs), logs of YOLOv5 v7.0-158, weights=yolov5s.pt, nc=3",
        "yolov5s",
        3,
        640,
        16,
        1,
        "Tesla T4",
        "2.0.0+cu118",
        3.49,
        4.30,
    ),
    LogPoint(
        "public GitHub 'Unable to Reproduce' notes, YOLOv5 v7.0-207, DDP on 4 GPUs, --cfg yolov5s.yaml, COCO",
        "yolov5s",
        80,
        640,
        16,
        4,
        "RTX 3090 x4 (rank 0 prints)",
        "2.0.0",
        1.02,
        1.04,
    ),
)


def main() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yolofreeze.core.thirdparty import quiet_env

        quiet_env()
        from bench.gpu_memory_check import CKPT_DIR
        from yolofreeze.core.checkpoint.reader import read_checkpoint
        from yolofreeze.core.demo import build_checkpoint
        from yolofreeze.core.memory.estimator import TrainConfig, estimate_memory, val_img
    logging.getLogger("yolov5").disabled = True

    lines = [
        f"{datetime.datetime.now():%Y-%m-%d %H:%M} {platform.node()}, python {platform.python_version()}; "
        "GPU_mem and our figures in GB (1e9 bytes) of torch reserved memory per GPU",
        "ratio = ours / log; target for the whole run: within +-10% of epoch 1+, never more than 12% under",
        "",
    ]
    hdr = (
        f"{'log':<5}{'model':<9}{'nc':>4}{'img':>5}{'batch':>6}{'gpus':>5}{'acc':>4}"
        f"{'ep0 log':>9}{'step':>7}{'ratio':>7}{'ep1+ log':>10}{'run':>7}{'ratio':>7}  {'set by':<28}{'verdict'}"
    )
    lines.append(hdr)
    notes = []
    for i, log in enumerate(LOGS, 1):
        path = CKPT_DIR / f"{log.model}-nc{log.nc}.pt"
        if not path.exists():
            CKPT_DIR.mkdir(parents=True, exist_ok=True)
            build_checkpoint(log.model, path, nc=log.nc)
        info = read_checkpoint(str(path))
        config = TrainConfig(batch=log.batch, img=log.img, gpus=log.gpus)
        est = estimate_memory(info, frozenset(), config)
        p = est.plan_run
        assert p is not None  # the estimator always models the run
        step, run = est.plan.peak_reserved / 1e9, p.peak_reserved / 1e9
        r0, r1 = step / log.epoch0, run / log.later
        ok = 0.9 <= r1 <= 1.1
        verdict = "within 10%" if ok else ("more than 12% under" if r1 < 0.88 else "outside 10%")
        lines.append(
            f"{i:<5}{log.model:<9}{log.nc:>4}{log.img:>5}{log.batch:>6}{log.gpus:>5}{est.accumulate:>4}"
            f"{log.epoch0:>9.2f}{step:>7.2f}{r0:>7.2f}{log.later:>10.2f}{run:>7.2f}{r1:>7.2f}  "
            f"{p.phase:<28}{verdict}"
        )
        notes.append(
            f"  {i}: {log.source}; {log.gpu}, torch {log.torch}; validation batch "
            f"{2 * config.per_gpu_batch} at {val_img(info, log.img)} px (largest rect batch)"
        )
    lines += ["", "logs:", *notes]
    lines.append(
        "left out of the model: NMS and metrics in validation, cuDNN autotuning workspaces beyond the "
        "fixed 32 MiB, and the driver's own allocation policy (expandable segments, memory limits)"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
