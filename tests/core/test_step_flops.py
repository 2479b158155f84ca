"""Step time per plan: forward and backward FLOPs counted on the traced training step.

The trace runs real autograd with the plan's requires_grad on meta tensors, so what freezing
skips must simply be missing from the count; the reference is torch's own FlopCounterMode on a
real forward and backward of the real yolov5 model on real tensors.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.memory import estimator
from yolofreeze.core.memory.estimator import TrainConfig, estimate_memory
from yolofreeze.core.plan.freeze import preset
from yolofreeze.tui.cli import main
from yolofreeze.tui.format import step_time_text

BATCH, IMG = 2, 64


@pytest.fixture(scope="module")
def info(yolov5n: Path) -> ModelInfo:
    return read_checkpoint(yolov5n)


@pytest.fixture(scope="module")
def trace() -> Any:
    return estimator._import_trace()


def _traced(trace: Any, info: ModelInfo, frozen: frozenset[str], amp: bool = True) -> Any:
    assert info.yaml is not None
    return trace.trace_step(info.yaml, info.yaml["nc"], frozen, "SGD", amp, BATCH, IMG)


def _conv_flops(info: ModelInfo, conv: str, stride: int) -> int:
    """Forward FLOPs of the yolov5 Conv ``conv`` (its one convolution, no bias) at BATCH x IMG."""
    (w,) = [p for p in info.parameters if p.name == f"model.{conv}.conv.weight"]
    side = IMG // stride
    return 2 * BATCH * side * side * math.prod(w.shape)


def test_traced_flops_equal_flop_counter_mode_on_the_real_model(trace: Any, info: ModelInfo) -> None:
    """Same count as torch's FlopCounterMode on real tensors, with autocast on in the trace."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from yolofreeze.core.checkpoint.yamlgate import gated_cfg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yolov5.models.yolo import DetectionModel
        from yolov5.utils.loss import ComputeLoss

    assert info.yaml is not None
    with contextlib.redirect_stdout(io.StringIO()):
        model = DetectionModel(gated_cfg(info.yaml), ch=3, nc=info.yaml["nc"])
    model.hyp = trace.HYP
    model.train()
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.2, 0.3], [1, 2, 0.3, 0.6, 0.1, 0.1]])
    for plan in ("none", "backbone", "all"):
        frozen = preset(info, plan).frozen
        for name, p in model.named_parameters():
            p.requires_grad_(name not in frozen)
            p.grad = None
        compute_loss = ComputeLoss(model)
        with FlopCounterMode(display=False) as fwd:
            loss, _ = compute_loss(model(torch.rand(BATCH, 3, IMG, IMG)), targets)
        with FlopCounterMode(display=False) as bwd:
            loss.backward()
        traced = _traced(trace, info, frozen)
        assert (traced.forward_flops, traced.backward_flops) == (fwd.get_total_flops(), bwd.get_total_flops()), plan


def test_freezing_more_counts_fewer_flops_and_all_but_detect_leaves_a_small_backward(
    trace: Any, info: ModelInfo
) -> None:
    none, backbone, all_ = (_traced(trace, info, preset(info, p).frozen) for p in ("none", "backbone", "all"))
    assert none.forward_flops == backbone.forward_flops == all_.forward_flops > 0  # forward runs whole
    assert none.backward_flops > backbone.backward_flops > all_.backward_flops > 0
    assert all_.backward_flops < 0.05 * none.backward_flops  # only Detect's 1x1 weight gradients
    # backward costs about twice the forward (input and weight gradients) when nothing is frozen
    assert 1.8 < none.backward_flops / none.forward_flops < 2.0


def test_a_frozen_prefix_skips_input_and_weight_gradients_a_frozen_middle_layer_only_weight_gradients(
    trace: Any, info: ModelInfo
) -> None:
    none = _traced(trace, info, frozenset()).backward_flops
    # layer 5 (a stride-2 Conv to stride 16) after trainable layers: its input gradient is still
    # needed by layers 0-4, its weight gradient is not: one forward conv's worth less
    layer5 = frozenset(p.name for p in info.parameters if p.name.startswith("model.5."))
    assert none - _traced(trace, info, layer5).backward_flops == _conv_flops(info, "5", 16)
    # layers 0-1 frozen: nothing before layer 1 needs a gradient, so layer 1 skips both, layer 0
    # never had an input gradient (the images do not require grad), and the first trainable
    # layer (the C3 at 2, whose cv1 and cv2 read layer 1's output) skips its input gradient
    prefix = frozenset(p.name for p in info.parameters if p.name.startswith(("model.0.", "model.1.")))
    saved = none - _traced(trace, info, prefix).backward_flops
    weight_and_input = _conv_flops(info, "0", 2) + 2 * _conv_flops(info, "1", 4)
    assert saved == weight_and_input + _conv_flops(info, "2.cv1", 4) + _conv_flops(info, "2.cv2", 4)


def test_flops_do_not_depend_on_amp(trace: Any, info: ModelInfo) -> None:
    frozen = preset(info, "backbone").frozen
    on, off = _traced(trace, info, frozen, amp=True), _traced(trace, info, frozen, amp=False)
    assert (on.forward_flops, on.backward_flops) == (off.forward_flops, off.backward_flops)


def test_estimate_reports_flops_per_iteration_scaled_from_the_two_traces(trace: Any, info: ModelInfo) -> None:
    frozen = preset(info, "backbone").frozen
    est = estimate_memory(info, frozen, TrainConfig(batch=3, img=224, optimizer="Adam"))
    assert info.yaml is not None
    direct = trace.trace_step(info.yaml, info.yaml["nc"], frozen, "Adam", True, 3, 224)
    assert (est.plan_flops.forward, est.plan_flops.backward) == (direct.forward_flops, direct.backward_flops)
    assert est.plan_flops.step == direct.forward_flops + direct.backward_flops
    # per iteration of the per-GPU batch: 16 images on 2 GPUs is 8 per iteration, 2x the 4 of one
    two = estimate_memory(info, frozen, TrainConfig(batch=16, img=320, gpus=2))
    four = estimate_memory(info, frozen, TrainConfig(batch=4, img=320))
    assert two.plan_flops.step == 2 * four.plan_flops.step
    assert two.step_ratio == pytest.approx(four.step_ratio, abs=1e-6)
    assert est.baseline_flops.step > est.plan_flops.step
    assert est.step_ratio == est.plan_flops.step / est.baseline_flops.step


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (0.6213, "step ≈ 0.62× no freeze (−38%)"),  # noqa: RUF001
        (1.0, "step ≈ 1.00× no freeze (±0%)"),  # noqa: RUF001
        (0.371, "step ≈ 0.37× no freeze (−63%)"),  # noqa: RUF001
    ],
)
def test_step_time_text(ratio: float, text: str) -> None:
    assert step_time_text(ratio) == text


def test_estimate_cli_prints_the_step_ratio_and_json_carries_the_flops(
    yolov5n: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["estimate", str(yolov5n), "--preset", "backbone", "--batch", "16", "--img", "320", "--gpu-mem", "8"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ratio = data["plan"]["step_flops"] / data["baseline"]["step_flops"]
    assert 0.4 < ratio < 0.9
    assert data["step_ratio"] == round(ratio, 4)
    assert data["plan"]["step_flops"] == data["plan"]["forward_flops"] + data["plan"]["backward_flops"]
    assert f"{step_time_text(ratio)}: " in table  # beside the memory saving, with the FLOPs per iteration
    assert "FLOPs per iteration (16 images, forward + backward)" in table
