"""Trace the validation pass train.py runs after every epoch, on the same fake tensors as a step.

train.py calls ``val.run(model=ema.ema, half=amp, batch_size=2 * per-GPU batch,
compute_loss=compute_loss, dataloader=val_loader)``; val.run then
- converts the EMA model in place with ``model.half()`` (fp32 tensors freed, fp16 ones allocated),
  puts it in eval mode and runs, under inference mode, per batch: uint8 images to fp16, ``/= 255``,
  the inference forward (Detect also builds its grids for the new shape and returns the decoded
  boxes plus the raw outputs), and ``compute_loss`` on the raw outputs;
- after the last batch, with that batch's tensors still referenced, ``model.float()`` (the EMA is
  fp32 again, in new blocks: the run goes on with them).
Left out: non_max_suppression and the metrics. Their sizes depend on what the model detects: the
kept boxes are kilobytes (max_det=300 per image), but the candidates NMS builds per image at
conf_thres=0.001 can reach tens of MB for a young model, which no trace without data can know.
Batches smaller than the largest are left out too (the largest sets the peak).

The caller picks the size: the estimator traces the largest batch train.py's rect val loader
makes (square, the training size plus up to one stride of padding).

This module imports torch at import time: import it only from functions that need a trace.
"""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from yolofreeze.core.memory.kinds import EMA
from yolofreeze.core.memory.tracing.metacpu import storage_of
from yolofreeze.core.memory.tracing.skeleton import HYP, LABELS, Skeleton, _quiet, _real_targets, skeleton
from yolofreeze.core.memory.tracing.trace import _LOCK, _Recorder, tree_map_clone

with warnings.catch_warnings():  # yolov5 7.0 warns about pkg_resources on import (trace imported it quietly)
    warnings.simplefilter("ignore")
    from yolov5.utils.loss import ComputeLoss

__all__ = ["ValidationTrace", "trace_validation"]


@dataclass(frozen=True)
class ValidationTrace:
    """Allocation k (1-based) requested ``nbytes[k-1]`` bytes and holds ``kinds[k-1]``.

    ``ema`` are the allocations of the fp32 EMA before validation, in ``state_dict`` order (the
    same tensors a step trace allocates in its setup); ``events`` is one validation pass, from
    ``half()`` to ``float()``: the EMA's new fp32 tensors and Detect's grids stay allocated.
    """

    batch: int
    img: int
    ema: tuple[int, ...]
    events: tuple[int, ...]
    nbytes: tuple[int, ...]
    kinds: bytes
    ops: int


def trace_validation(
    yaml: dict[str, Any],
    nc: int,
    amp: bool,
    batch: int,
    img: int,
    cancelled: Callable[[], bool] | None = None,
    engine: str = "meta",
) -> ValidationTrace:
    """Record one validation pass at ``batch`` images of ``img`` x ``img`` px (the val loader's sizes)."""
    sk = skeleton(json.dumps(yaml, sort_keys=True), nc, engine)
    with _LOCK, _quiet():
        if not hasattr(sk, "targets"):
            sk.targets = _real_targets(sk, nc)  # type: ignore[attr-defined]
        ema = sk.ema.ema
        detect = ema.model[-1]
        real_stride = detect.stride  # a real tensor (the build needs its values); a fake one here
        detect.stride = sk.mode.from_tensor(real_stride)
        rec = _Recorder(cancelled)
        gc_was = gc.isenabled()
        gc.disable()  # frees must happen where refcounts drop, the same way in every trace
        try:
            with sk.mode, rec:
                ema_ids = tuple(dict.fromkeys(rec.track(v, EMA) for v in _state_tensors(ema)))
                setup_end = len(rec.events)
                _run_validation(sk, rec, amp, batch, img)
            rec.open = False
        finally:
            rec.open = False
            with sk.mode:
                _convert(ema, torch.float32)  # as it was (a cancelled trace may stop while it is fp16)
                _reset_grids(ema)  # the next trace builds them again, as the first validation does
            ema.train()
            detect.stride = real_stride
            if gc_was:
                gc.enable()
    return ValidationTrace(
        batch, img, ema_ids, tuple(rec.events[setup_end:]), tuple(rec.nbytes), bytes(rec.kinds), rec.ops
    )


def _reset_grids(model: Any) -> None:
    detect = model.model[-1]
    detect.grid = [torch.empty(0) for _ in range(detect.nl)]
    detect.anchor_grid = [torch.empty(0) for _ in range(detect.nl)]


def _convert(model: Any, dtype: torch.dtype) -> None:
    """``model.half()`` / ``model.float()`` as yolov5's DetectionModel._apply does it: every floating
    parameter and buffer, then Detect's stride and grids, each converted tensor allocated before the
    old one is dropped. (Module._apply swaps wrapper-subclass parameters through swap_tensors, which
    loses track of the storages; replacing each parameter frees and allocates the same bytes.)"""
    for m in model.modules():
        for key, p in m._parameters.items():
            if p is not None and p.is_floating_point() and p.dtype != dtype:
                m._parameters[key] = torch.nn.Parameter(p.to(dtype), requires_grad=p.requires_grad)
        for key, b in m._buffers.items():
            if b is not None and b.is_floating_point() and b.dtype != dtype:
                m._buffers[key] = b.to(dtype)
    detect = model.model[-1]
    detect.stride = detect.stride.to(dtype)
    detect.grid = [g.to(dtype) for g in detect.grid]
    detect.anchor_grid = [g.to(dtype) for g in detect.anchor_grid]


def _state_tensors(model: Any) -> list[Any]:
    """What ``model.state_dict()`` holds, in its order, without its detach per entry (~1,700 ops)."""
    return [
        t
        for m in model.modules()
        for t in (
            *m._parameters.values(),
            *(b for n, b in m._buffers.items() if n not in m._non_persistent_buffers_set),
        )
        if t is not None
    ]


def _mark_ema(rec: _Recorder, model: Any) -> None:
    """The EMA's tensors, and the grids Detect keeps on it, live on with the model."""
    for v in _state_tensors(model):
        rec.track(v, EMA)
    detect = model.model[-1]
    for t in (*detect.grid, *detect.anchor_grid):
        if t.numel():
            rec.track(t, EMA)


def _run_validation(sk: Skeleton, rec: _Recorder, amp: bool, batch: int, img: int) -> None:
    model = sk.ema.ema
    rec.paused = True
    _reset_grids(model)
    rec.paused = False
    sk.model.hyp = HYP
    compute_loss = ComputeLoss(sk.model)  # train.py passes the training model's loss
    real_targets = sk.targets  # type: ignore[attr-defined]
    compute_loss.build_targets = lambda p, t: tree_map_clone(sk.mode, real_targets, rec)
    with torch.no_grad():  # val.run is under inference mode: nothing is saved for backward either way
        _convert(model, torch.float16 if amp else torch.float32)  # model.half() if half else model.float()
        _mark_ema(rec, model)
        model.eval()
        loss = torch.zeros(3)
        im = torch.empty((batch, 3, img, img), dtype=torch.uint8)
        targets = torch.empty((LABELS, 6))
        im = im.half() if amp else im.float()
        im /= 255
        preds, train_out = model(im)
        _mark_ema(rec, model)  # the grids Detect built for this shape
        loss += compute_loss(train_out, targets)[1]
        _convert(model, torch.float32)  # val.run's model.float() before it returns; its locals still alive
        _mark_ema(rec, model)
        del im, preds, train_out, targets, loss
    # Everything the pass allocated is released when val.run returns, except the EMA's tensors
    # and grids (tracked as EMA): those are the model the run goes on with.
    keep = {rec.alloc_of[storage_of(v)._cdata] for v in _state_tensors(model)}
    detect = model.model[-1]
    keep |= {rec.alloc_of[storage_of(t)._cdata] for t in (*detect.grid, *detect.anchor_grid) if t.numel()}
    rec.events += [-k for k in sorted(rec.alloc_of.values()) if k not in keep]
    rec.open = False
