"""The fake-tensor trace against real PyTorch on the CPU: saved activations, sizes, dtypes."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import preset


@pytest.fixture(scope="module")
def trace() -> Any:
    from yolofreeze.core.memory.tracing import trace as module

    return module


def _real_saved_bytes(trace: Any, info: Any, frozen: frozenset[str], batch: int, img: int) -> int:
    """Unique storages saved for backward in a real CPU forward + loss (fp32), weights excluded."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yolov5.models.yolo import DetectionModel
        from yolov5.utils.loss import ComputeLoss

    nc = info.yaml["nc"]
    model = DetectionModel(copy.deepcopy(info.yaml), ch=3, nc=nc)
    model.hyp = trace.HYP
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    model.train()
    sk = trace.skeleton(json.dumps(info.yaml, sort_keys=True), nc)
    tcls, tbox, indices, anch = trace._real_targets(sk, nc)  # the boxes the trace uses: like with like
    # they were matched on 640 px grids; keep the shapes, bring the cell indices inside this size
    indices = [
        (b, a, gj.clamp(0, img // s - 1), gi.clamp(0, img // s - 1))
        for (b, a, gj, gi), s in zip(indices, sk.strides, strict=True)
    ]
    real_targets = (tcls, tbox, indices, anch)
    loss_fn = ComputeLoss(model)
    loss_fn.build_targets = lambda p, t: real_targets
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st.data_ptr() not in weights:
            seen[st.data_ptr()] = st.nbytes()
        return t

    imgs = torch.rand(batch, 3, img, img)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = loss_fn(model(imgs), torch.zeros(trace.LABELS, 6))
    del loss
    return sum(seen.values())


@pytest.mark.parametrize("plan_name", ["none", "backbone"])
def test_traced_saved_activations_agree_with_real_saved_tensors_within_3_percent(
    trace: Any, yolov5n: Path, plan_name: str
) -> None:
    info = read_checkpoint(str(yolov5n))
    frozen = preset(info, plan_name).frozen
    traced = trace.trace_step(info.yaml, info.yaml["nc"], frozen, "SGD", False, 2, 160)
    real = _real_saved_bytes(trace, info, frozen, 2, 160)
    assert real > 1 << 20
    assert abs(traced.saved_activation_bytes - real) / real < 0.03


def test_interpolated_sizes_equal_a_trace_at_that_size(yolov5n: Path) -> None:
    """Two traced sizes predict every allocation of a third exactly (the basis of fast re-estimates)."""
    from yolofreeze.core.memory import estimator

    info = read_checkpoint(str(yolov5n))
    frozen = preset(info, "first:4").frozen
    pair = estimator._trace_pair(info, frozen, "Adam", True, None)
    direct = estimator._import_trace().trace_step(info.yaml, info.yaml["nc"], frozen, "Adam", True, 3, 224)
    assert (direct.setup, direct.step, direct.kinds) == (pair.small.setup, pair.small.step, pair.small.kinds)
    assert pair.nbytes_at(3, 224) == list(direct.nbytes)


def test_cuda_autocast_rules_keep_upsample_and_pow_in_fp32_and_conv_in_fp16() -> None:
    import torch
    import torch.nn.functional as F

    from yolofreeze.core.memory.tracing.cuda_autocast import CudaAutocastRules

    x = torch.rand(1, 4, 8, 8)
    w = torch.rand(4, 4, 3, 3)
    with torch.autocast("cpu", dtype=torch.float16), CudaAutocastRules():
        h = F.conv2d(x, w)
        assert h.dtype == torch.float16
        assert F.interpolate(h, scale_factor=2.0, mode="nearest").dtype == torch.float32
        assert (h**2).dtype == torch.float32
        assert h.sum().dtype == torch.float32
        assert F.silu(h).dtype == torch.float16  # not in any list: runs in its input's dtype
    with torch.autocast("cpu", dtype=torch.float16):  # what CPU autocast alone would do
        assert F.interpolate(F.conv2d(x, w), scale_factor=2.0).dtype == torch.float16


def test_synthesized_ema_update_stream_equals_the_real_model_ema_update(trace: Any, yolov5n: Path) -> None:
    info = read_checkpoint(str(yolov5n))
    sk = trace.skeleton(json.dumps(info.yaml, sort_keys=True), info.yaml["nc"])
    rec = trace._Recorder(None)
    with sk.mode:
        msd_storages = [v for v in [*sk.model.parameters(), *sk.model.buffers(), *sk.ema.ema.state_dict().values()]]
        for t in msd_storages:
            rec.track(t, trace.WEIGHTS)
        start = len(rec.events)
        with rec:
            sk.ema.update(sk.model)
    new = [e for e in rec.events[start:]]
    allocs = [rec.nbytes[e - 1] for e in new if e > 0]
    assert allocs == list(sk.ema_update_nbytes)
    assert all(new[i] == -new[i - 1] for i in range(1, len(new), 2))  # each freed at once


def test_freezing_the_backbone_saves_at_least_half_the_activations_of_yolov5s_at_640(yolov5s: Path) -> None:
    from yolofreeze.core.memory.estimator import TrainConfig, estimate_memory

    info = read_checkpoint(str(yolov5s))
    est = estimate_memory(info, preset(info, "backbone").frozen, TrainConfig(batch=2, img=640))
    assert est.baseline.activations > 0
    assert est.plan.activations <= 0.5 * est.baseline.activations
    assert est.saved_bytes > 0
