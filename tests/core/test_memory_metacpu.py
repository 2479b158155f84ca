"""The fast meta engine against FakeTensorMode (the reference): the same traced step, op for op."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import preset


@pytest.fixture(scope="module")
def trace() -> Any:
    from yolofreeze.core.memory.tracing import trace as module

    return module


def _frees_as_sets(events: tuple[int, ...]) -> list[Any]:
    """Frees that happen at one instant (autocast dropping its weight cache: a hash map) come in
    no fixed order, not even between two runs of one engine: compare each run of frees as a set."""
    out: list[Any] = []
    for e in events:
        if e < 0 and out and isinstance(out[-1], frozenset):
            out[-1] = out[-1] | {e}
        else:
            out.append(frozenset({e}) if e < 0 else e)
    return out


def _both(trace: Any, info: Any, plan: str, optimizer: str, amp: bool, batch: int, img: int) -> tuple[Any, Any]:
    frozen = preset(info, plan).frozen
    args = (info.yaml, info.yaml["nc"], frozen, optimizer, amp, batch, img, None)
    return trace.trace_step(*args, engine="meta"), trace.trace_step(*args, engine="fake")


@pytest.mark.parametrize(("plan", "optimizer"), [("none", "AdamW"), ("backbone", "SGD")])
def test_without_amp_the_meta_trace_equals_the_fake_tensor_trace(
    trace: Any, yolov5n: Path, plan: str, optimizer: str
) -> None:
    info = read_checkpoint(str(yolov5n))
    meta, fake = _both(trace, info, plan, optimizer, False, 2, 96)
    assert (meta.setup, meta.nbytes, meta.kinds) == (fake.setup, fake.nbytes, fake.kinds)
    assert _frees_as_sets(meta.step) == _frees_as_sets(fake.step)
    assert meta.saved_activation_bytes == fake.saved_activation_bytes


def test_with_amp_only_batch_norm_statistics_differ_and_meta_keeps_them_fp32_as_cuda_does(
    trace: Any, yolov5n: Path
) -> None:
    """FakeTensorMode's CPU decomposition casts batch norm's saved mean/invstd to fp16; CUDA's
    kernels (and the meta kernel) keep them fp32. Every other allocation is the same."""
    import torch

    info = read_checkpoint(str(yolov5n))
    meta, fake = _both(trace, info, "none", "SGD", True, 2, 96)
    assert (meta.setup, meta.kinds) == (fake.setup, fake.kinds)
    assert _frees_as_sets(meta.step) == _frees_as_sets(fake.step)
    differ = [(m, f) for m, f in zip(meta.nbytes, fake.nbytes, strict=True) if m != f]
    assert all(m == 2 * f for m, f in differ)
    sk = trace.skeleton(json.dumps(info.yaml, sort_keys=True), info.yaml["nc"])
    bns = sum(isinstance(m, torch.nn.BatchNorm2d) for m in sk.model.modules())
    assert 0 < len(differ) <= 2 * bns  # save_mean and save_invstd of each forward batch norm
    assert abs(meta.saved_activation_bytes - fake.saved_activation_bytes) < 0.01 * fake.saved_activation_bytes


@pytest.mark.parametrize(("plan", "amp"), [("none", True), ("backbone", False)])
def test_fast_meta_answers_equal_the_meta_kernels(trace: Any, yolov5n: Path, plan: str, amp: bool) -> None:
    from yolofreeze.core.memory.tracing import metacpu

    info = read_checkpoint(str(yolov5n))
    metacpu.CHECK_FAST_META = True
    try:  # every shortcut is recomputed by torch's own meta kernel and compared (raises if not equal)
        trace.trace_step(info.yaml, info.yaml["nc"], preset(info, plan).frozen, "Adam", amp, 2, 96)
    finally:
        metacpu.CHECK_FAST_META = False
