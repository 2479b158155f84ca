"""The network a trace runs: yolov5's DetectionModel from the checkpoint's YAML, on fake tensors.

Building it normally costs seconds (a real forward pass to find the strides, random init of every
weight); here every factory call goes to the meta device except tensors made from data (anchors,
strides), so the build costs only the module tree, then each tensor becomes a fake CPU tensor
(a ``MetaCpuTensor``, or a FakeTensor for the reference engine).
One skeleton per YAML is cached and reused by every trace (under trace's lock).

This module imports torch and yolov5 at import time: import it only from functions that trace.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from yolofreeze.core.checkpoint.yamlgate import gated_cfg
from yolofreeze.core.memory.tracing.metacpu import FAST_META, IN_PLACE_NONE, MetaCpuMode, MetaCpuTensor
from yolofreeze.core.thirdparty import import_yolov5

import_yolov5("yolov5.models.yolo")  # first, and quietly: ultralytics' banner and settings file
with warnings.catch_warnings():  # yolov5 7.0 warns about pkg_resources on import
    warnings.simplefilter("ignore")
    from torch._subclasses.fake_tensor import FakeTensorMode
    from yolov5.models.yolo import Detect, DetectionModel
    from yolov5.utils.loss import ComputeLoss
    from yolov5.utils.torch_utils import ModelEMA

# yolov5's data/hyps/hyp.scratch-low.yaml: the values train.py uses unless told otherwise
HYP = {
    "lr0": 0.01,
    "momentum": 0.937,
    "weight_decay": 0.0005,
    "box": 0.05,
    "cls": 0.5,
    "cls_pw": 1.0,
    "obj": 1.0,
    "obj_pw": 1.0,
    "anchor_t": 4.0,
    "fl_gamma": 0.0,
    "label_smoothing": 0.0,
}
LABELS = 32  # boxes in the fake batch; what they cost (a few KiB) does not depend on the count


class _MetaFactories(TorchFunctionMode):
    """Build modules on the meta device, except tensors made from data (anchors, strides)."""

    _KEEP = (torch.tensor, torch.as_tensor, torch.asarray)

    def __init__(self) -> None:
        super().__init__()
        from torch.utils._device import _device_constructors

        self._factories = _device_constructors()

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in self._factories and func not in self._KEEP and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


@contextmanager
def _quiet() -> Iterator[None]:
    """yolov5 logs its model table and optimizer groups; core never prints."""
    log = logging.getLogger("yolov5")
    was = log.disabled
    log.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.disabled = was


class _QuietDetectionModel(DetectionModel):  # type: ignore[misc]
    def info(self, verbose: bool = False, img_size: int = 640) -> None:
        pass  # the summary profiles FLOPs with a real forward pass: seconds, and nothing we use


@dataclass
class Skeleton:
    """A yolov5 model whose parameters are fake tensors, reused by every trace of one YAML."""

    model: Any
    mode: Any  # the FakeTensorMode its tensors belong to
    ema: Any
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    strides: tuple[int, ...]
    anchors: Any  # real tensor, in grid units, for build_targets
    na: int
    no: int
    ema_update_nbytes: tuple[int, ...]


def _new(mode: Any, shape: Any, dtype: Any) -> Any:
    if isinstance(mode, MetaCpuMode):  # straight to the wrapper: no dispatch per tensor
        return MetaCpuTensor(torch.empty(shape, dtype=dtype, device="meta"))
    with mode:
        return torch.empty(shape, dtype=dtype)


def _to_fake(model: Any, mode: Any) -> None:
    """Swap every meta tensor of a module tree for a fake CPU tensor of the same shape."""
    for mod in model.modules():
        for key, p in list(mod._parameters.items()):
            if p is not None:
                fake = _new(mode, p.shape, p.dtype)
                mod._parameters[key] = torch.nn.Parameter(fake, requires_grad=p.requires_grad)
        for key, b in list(mod._buffers.items()):
            if b is not None:
                mod._buffers[key] = _new(mode, b.shape, b.dtype)
        for key, v in list(vars(mod).items()):  # plain tensor attributes, e.g. Detect.grid
            if isinstance(v, list) and v and all(isinstance(x, torch.Tensor) and x.is_meta for x in v):
                setattr(mod, key, [_new(mode, x.shape, x.dtype) for x in v])


def skeleton(yaml_json: str, nc: int, engine: str = "meta") -> Skeleton:
    """The cached network for one YAML; ``engine`` "meta" (fast) or "fake" (FakeTensorMode, the reference)."""
    return _skeleton(yaml_json, nc, engine)  # one cache key however the caller passes engine


class _FastMetaBuild(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """The build's stride-finding forward pass runs on meta tensors: answer batch norm quickly."""

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        fast = FAST_META.get(func)
        # anchors and strides stay real tensors: only meta arguments take the fast path
        if fast is not None and all(a.is_meta for a in args if isinstance(a, torch.Tensor)):
            out = fast(*args, **kwargs)
            if out is not None:
                return None if out is IN_PLACE_NONE else out
        return func(*args, **kwargs)


@lru_cache(maxsize=4)
def _skeleton(yaml_json: str, nc: int, engine: str) -> Skeleton:
    cfg = json.loads(yaml_json)
    with _quiet(), torch.no_grad(), _MetaFactories(), _FastMetaBuild():  # type: ignore[no-untyped-call]
        # parse_model eval()s YAML strings: only the gate's normalised copy may reach it
        model = _QuietDetectionModel(gated_cfg(cfg), ch=3, nc=nc)
    detect = model.model[-1]
    if not isinstance(detect, Detect):
        raise TypeError(f"the model's last layer is {type(detect).__name__}, not Detect")
    real_anchors = detect.anchors.clone()
    with _quiet():
        ema = ModelEMA(model)  # fp32 copy, as in the first epoch (validation later halves it)
    mode = MetaCpuMode() if engine == "meta" else FakeTensorMode()  # type: ignore[no-untyped-call]
    _to_fake(model, mode)
    _to_fake(ema.ema, mode)
    model.train()
    return Skeleton(
        model=model,
        mode=mode,
        ema=ema,
        names=tuple(n for n, _ in model.named_parameters()),
        shapes=tuple(tuple(p.shape) for p in model.parameters()),
        strides=tuple(int(s) for s in model.stride.tolist()),
        anchors=real_anchors,
        na=int(detect.na),
        no=int(detect.no),
        ema_update_nbytes=tuple(
            v.numel() * v.element_size() for v in ema.ema.state_dict().values() if v.dtype.is_floating_point
        ),
    )


def _real_targets(sk: Skeleton, nc: int) -> tuple[Any, ...]:
    """build_targets' output for a fixed set of boxes, computed on real tensors.

    ``build_targets`` filters with boolean masks (data-dependent shapes, which fake tensors
    cannot follow), so it runs here once; the fake step reuses its tensors at every size.
    Boxes take each anchor's own size at 640 px so every output level gets matches.
    """
    per_level = [a * s for a, s in zip(sk.anchors, sk.strides, strict=True)]  # anchors in pixels
    flat = torch.cat(per_level)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for k in range(LABELS):
        wh = flat[k % len(flat)] / 640
        xy = 0.1 + 0.8 * torch.rand(2, generator=gen)
        rows.append(torch.tensor([k % 2, k % nc, *xy.tolist(), *wh.tolist()]))
    targets = torch.stack(rows)
    shapes = [SimpleNamespace(shape=torch.Size((2, sk.na, 640 // s, 640 // s, sk.no))) for s in sk.strides]
    ns = SimpleNamespace(na=sk.na, nl=len(sk.strides), anchors=sk.anchors, hyp=HYP, device=torch.device("cpu"))
    out = ComputeLoss.build_targets(ns, shapes, targets)
    if any(b.shape[0] == 0 for b, *_ in out[2]):
        raise RuntimeError("fake labels left an output level without targets")
    return tuple(out)
