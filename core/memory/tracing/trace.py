"""Trace one real YOLOv5 training step on fake CPU tensors and record every allocation.

The model is yolov5's own ``DetectionModel`` built from the checkpoint's YAML, the loss is its
``ComputeLoss``, the optimizer comes from its ``smart_optimizer``; the step follows train.py:
uint8 images to float, forward and loss under autocast, scaled backward, unscale, gradient
clipping, optimizer step, ``zero_grad`` (set to None) and the EMA update. Tensors are fake
(shapes and dtypes, no data), so a step of yolov5x at 640 px costs no memory: by default
``metacpu.MetaCpuMode`` (meta tensors posing as CPU ones, ~0.3 s a yolov5m step), or
``FakeTensorMode`` (``engine="fake"``, several times slower; the reference the tests compare with).

This module imports torch at import time: import it only from functions that need a trace.
"""

from __future__ import annotations

import functools
import gc
import json
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import flop_registry

from yolofreeze.core.memory.kinds import ACTIVATIONS, AMP_CACHE, EMA, GRADIENTS, OPTIMIZER, TEMPORARIES, WEIGHTS
from yolofreeze.core.memory.tracing.cuda_autocast import CudaAutocastRules
from yolofreeze.core.memory.tracing.metacpu import storage_of
from yolofreeze.core.memory.tracing.skeleton import HYP, LABELS, Skeleton, _quiet, _real_targets, skeleton
from yolofreeze.core.thirdparty import import_yolov5

import_yolov5("yolov5.utils.loss")  # through the one quiet import (skeleton already did; be explicit)
with warnings.catch_warnings():  # yolov5 7.0 warns about pkg_resources on import
    warnings.simplefilter("ignore")
    from yolov5.utils.loss import ComputeLoss
    from yolov5.utils.torch_utils import smart_optimizer

__all__ = ["HYP", "LABELS", "Skeleton", "StepTrace", "TraceCancelled", "_real_targets", "skeleton", "trace_step"]

_LOCK = threading.Lock()  # the cached skeletons are mutated by a trace


class TraceCancelled(Exception):
    pass


@dataclass(frozen=True)
class StepTrace:
    """Allocation k (1-based) requested ``nbytes[k-1]`` bytes and holds ``kinds[k-1]`` at its peak use.

    ``setup`` allocates what lives across steps (weights, EMA, optimizer state); ``step`` is one
    training iteration, whose allocations are all freed by its end.
    """

    batch: int
    img: int
    setup: tuple[int, ...]
    step: tuple[int, ...]
    nbytes: tuple[int, ...]
    kinds: bytes
    saved_activation_bytes: int  # unique storages autograd saved, weights and their fp16 copies excluded
    ops: int
    # FLOPs of the forward pass with the loss, and of the backward pass, by torch.utils.flop_counter's
    # formulas (convolutions and matrix products; elementwise ops count 0). Backward runs real
    # autograd with the plan's requires_grad, so what freezing skips is simply never counted.
    forward_flops: int = 0
    backward_flops: int = 0


class _Recorder(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Sees every aten op's outputs; a storage seen for the first time is an allocation."""

    def __init__(self, cancelled: Callable[[], bool] | None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.events: list[int] = []
        self.nbytes: list[int] = []
        self.kinds = bytearray()
        self.alloc_of: dict[int, int] = {}  # storage address -> allocation id
        self.weight_storages: set[int] = set()
        self._refs: dict[int, Any] = {}
        self.ops = 0
        self.open = True
        self.paused = False
        self._cancelled = cancelled
        self.flops = [0, 0]  # forward (with the loss), backward
        self.phase = 0

    def track(self, t: torch.Tensor, kind: int) -> int:
        st = storage_of(t)
        key = st._cdata
        k = self.alloc_of.get(key)
        if k is None:
            self.nbytes.append(st.nbytes())
            self.kinds.append(kind)
            k = len(self.nbytes)
            self.alloc_of[key] = k
            self.events.append(k)
            # a plain weakref is cheaper than weakref.finalize; the dict keeps it alive
            self._refs[key] = weakref.ref(st, functools.partial(self._on_collect, key))
        elif self.kinds[k - 1] == TEMPORARIES:  # first seen as the output of a view op
            self.kinds[k - 1] = kind
        return k

    def transient(self, nbytes: int) -> None:
        """An allocation freed right away, for a step whose stream is known without tracing it."""
        self.nbytes.append(nbytes)
        self.kinds.append(TEMPORARIES)
        k = len(self.nbytes)
        self.events += (k, -k)

    def retag(self, t: torch.Tensor, kind: int, only_from: int | None = None) -> None:
        k = self.alloc_of.get(storage_of(t)._cdata)
        if k is not None and (only_from is None or self.kinds[k - 1] == only_from):
            self.kinds[k - 1] = kind

    def _on_collect(self, key: int, _ref: Any) -> None:
        self._free(key)

    def _free(self, key: int) -> None:
        self._refs.pop(key, None)
        k = self.alloc_of.pop(key, None)
        if k is not None and self.open:
            self.events.append(-k)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if self.paused:
            return out
        self.ops += 1
        if self._cancelled is not None and self.ops % 256 == 0 and self._cancelled():
            raise TraceCancelled
        flops = _FLOP_FORMULAS.get(func._overloadpacket)
        if flops is not None:
            self.flops[self.phase] += flops(*args, **(kwargs or {}), out_val=out)
        kind = TEMPORARIES
        # autocast's fp16 copy of a weight: the "AMP cache" part of the picture
        if (
            func is torch.ops.aten._to_copy.default
            and isinstance(args[0], torch.Tensor)
            and storage_of(args[0])._cdata in self.weight_storages
        ):
            kind = AMP_CACHE
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.track(t, kind)
        return out


# FlopCounterMode's own formulas, looked up the way it does, without the mode: its fallback for
# ops without a formula (``func.decompose``) recurses on meta-backed wrappers such as
# upsample_nearest2d's, and its module tracker hooks every module call. No op of a yolov5 step
# decomposes into one with a formula; tests compare the total with FlopCounterMode on real tensors.
_FLOP_FORMULAS: dict[Any, Any] = dict(flop_registry)

_SAVED_ATTRS: dict[type, tuple[str, ...]] = {}


def _saved_tensors(root: Any) -> Iterator[torch.Tensor]:
    """Every tensor the autograd graph under ``root`` holds for backward."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names = _SAVED_ATTRS.get(type(node))
        if names is None:
            names = _SAVED_ATTRS[type(node)] = tuple(n for n in dir(node) if n.startswith("_saved_"))
        for name in names:
            try:
                value = getattr(node, name)
            except RuntimeError:  # a saved tensor already released
                continue
            for t in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(t, torch.Tensor):
                    yield t
        stack.extend(fn for fn, _ in node.next_functions)


def trace_step(
    yaml: dict[str, Any],
    nc: int,
    frozen: frozenset[str],
    optimizer: str,
    amp: bool,
    batch: int,
    img: int,
    cancelled: Callable[[], bool] | None = None,
    engine: str = "meta",
) -> StepTrace:
    """Record the allocations of one training step at ``batch`` images of ``img`` px (one GPU).

    ``engine`` "fake" runs the same step on FakeTensorMode: slower, kept as the reference the
    tests compare the fast "meta" engine with.
    """
    sk = skeleton(json.dumps(yaml, sort_keys=True), nc, engine)
    with _LOCK, _quiet():
        if not hasattr(sk, "targets"):
            sk.targets = _real_targets(sk, nc)  # type: ignore[attr-defined]
        model = sk.model
        params = dict(model.named_parameters())
        for name, p in params.items():
            p.grad = None
            p.requires_grad_(name not in frozen)
        rec = _Recorder(cancelled)
        gc_was = gc.isenabled()
        gc.disable()  # frees must happen where refcounts drop, the same way in every trace
        try:
            with sk.mode, rec:
                setup_end, saved = _run_step(sk, rec, params, optimizer, amp, batch, img)
            rec.open = False
        finally:
            rec.open = False
            for p in params.values():
                p.grad = None
                p.requires_grad_(True)
            if gc_was:
                gc.enable()
    return StepTrace(
        batch,
        img,
        tuple(rec.events[:setup_end]),
        tuple(rec.events[setup_end:]),
        tuple(rec.nbytes),
        bytes(rec.kinds),
        saved,
        rec.ops,
        rec.flops[0],
        rec.flops[1],
    )


def _run_step(
    sk: Skeleton, rec: _Recorder, params: dict[str, Any], optimizer: str, amp: bool, batch: int, img: int
) -> tuple[int, int]:
    model = sk.model
    trainable = [p for p in params.values() if p.requires_grad]
    # -- what lives across steps: weights and buffers, the EMA, loss constants, optimizer state
    for p in params.values():
        rec.track(p, WEIGHTS)
        rec.weight_storages.add(storage_of(p)._cdata)
    for b in model.buffers():
        rec.track(b, WEIGHTS)
    for v in sk.ema.ema.state_dict().values():
        rec.track(v, EMA)
    model.hyp = HYP
    compute_loss = ComputeLoss(model)
    real_targets = sk.targets  # type: ignore[attr-defined]
    compute_loss.build_targets = lambda p, t: tree_map_clone(sk.mode, real_targets, rec)
    opt = smart_optimizer(model, optimizer, HYP["lr0"], HYP["momentum"], HYP["weight_decay"])
    for group in opt.param_groups:
        group["foreach"] = True  # torch's default on CUDA: one multi-tensor kernel per group
    for p in trainable:
        state = opt.state[p]
        if optimizer == "SGD":
            state["momentum_buffer"] = torch.zeros_like(p)
        else:
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
            rec.paused = True  # Adam's step counter is a host tensor (not capturable): no GPU bytes
            state["step"] = torch.tensor(1.0)  # a fake constant, so Adam can read its value
            rec.paused = False
        for key, v in state.items():
            if key != "step":
                rec.retag(v, OPTIMIZER)
    scale = torch.full((), 65536.0) if amp else None  # GradScaler's scale, kept on the device
    setup_end = len(rec.events)

    # -- one iteration of train.py's loop
    dt = torch.float16 if amp else torch.float32
    grids = [img // s for s in sk.strides]
    # the previous iteration's images and predictions stay referenced until reassigned
    prev_imgs = torch.empty((batch, 3, img, img))
    prev_pred = [torch.empty((batch, sk.na, g, g, sk.no), dtype=dt) for g in grids]
    imgs = torch.empty((batch, 3, img, img), dtype=torch.uint8).float() / 255
    del prev_imgs
    targets = torch.empty((LABELS, 6))
    with torch.autocast("cpu", dtype=torch.float16, enabled=amp), CudaAutocastRules():
        pred = model(imgs)
        del prev_pred
        loss, loss_items = compute_loss(pred, targets)
    saved = _mark_saved(rec, loss.grad_fn)
    rec.phase = 1
    (loss * scale if scale is not None else loss).backward()
    grads = [p.grad for p in trainable if p.grad is not None]
    _mark(rec, grads, GRADIENTS)  # (a loop here would keep its last tensor alive)
    if scale is not None:
        inv_scale = scale.double().reciprocal().float()
        found_inf = torch.full((), 0.0)
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale)
        del inv_scale, found_inf
    del grads
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0, foreach=True)
    opt.step()
    opt.zero_grad()
    # ModelEMA.update: ``v *= d`` in place, then ``v += (1 - d) * msd[k]``: one temporary the size
    # of each floating entry, freed by the add. Emitting that stream directly saves a quarter of
    # the trace (state_dict() twice plus three ops per entry); tests check it against the real one.
    for nbytes in sk.ema_update_nbytes:
        rec.transient(nbytes)
    del imgs, pred, loss, loss_items, targets
    # Whatever of this step is still referenced here (nothing, in practice) is released by the
    # next iteration; the optimizer, loss and EMA die with this function but live on in training.
    first_step_alloc = max(rec.events[:setup_end], default=0)
    leftovers = sorted(k for k in rec.alloc_of.values() if k > first_step_alloc)
    rec.events += [-k for k in leftovers]
    rec.open = False
    return setup_end, saved


def _mark_saved(rec: _Recorder, root: Any) -> int:
    """Tag what autograd saved as activations; their bytes (weights and fp16 copies excluded)."""
    saved = 0
    for t in _saved_tensors(root):
        k = rec.alloc_of.get(storage_of(t)._cdata)
        if k is not None and rec.kinds[k - 1] == TEMPORARIES:
            rec.kinds[k - 1] = ACTIVATIONS
            saved += rec.nbytes[k - 1]
    return saved


def _mark(rec: _Recorder, tensors: list[Any], kind: int) -> None:
    for t in tensors:
        rec.retag(t, kind)


def tree_map_clone(mode: Any, tree: Any, rec: _Recorder | None = None) -> Any:
    """Fake, freshly allocated copies of real tensors (what build_targets would have allocated).

    Only the clones are allocations of the step: the conversion is paused, since FakeTensorMode
    memoises it (a view's base storage would show up once, or not, depending on earlier traces).
    """
    if isinstance(tree, torch.Tensor):
        if rec is not None:
            rec.paused = True
        try:
            fake = mode.from_tensor(tree)
        finally:
            if rec is not None:
                rec.paused = False
        return fake.clone()
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map_clone(mode, v, rec) for v in tree)
    return tree
