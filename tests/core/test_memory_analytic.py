"""The instant (analytic) parts equal what a real yolov5 optimizer step holds on the CPU."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.memory.analytic import state_bytes
from yolofreeze.core.plan.freeze import preset


def _real_step(info: Any, frozen: frozenset[str], optimizer: str) -> tuple[int, int]:
    """One real step of yolov5's model, loss and smart_optimizer; (grad bytes, optimizer state bytes)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yolov5.models.yolo import DetectionModel
        from yolov5.utils.loss import ComputeLoss
        from yolov5.utils.torch_utils import smart_optimizer

    torch.manual_seed(0)
    model = DetectionModel(copy.deepcopy(info.yaml), ch=3, nc=info.yaml["nc"])
    from yolofreeze.core.memory.tracing.skeleton import HYP  # yolov5's default hyp.scratch-low values

    model.hyp = dict(HYP)
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)  # train.py's freeze
    model.train()
    opt = smart_optimizer(model, optimizer, 0.01, 0.937, 0.0005)
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.3, 0.4], [1, 2, 0.3, 0.6, 0.1, 0.2]])
    loss, _ = ComputeLoss(model)(model(torch.rand(2, 3, 64, 64)), targets)
    loss.backward()
    opt.step()
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    state = sum(
        v.numel() * v.element_size()
        for s in opt.state.values()
        for k, v in s.items()
        if isinstance(v, torch.Tensor) and k != "step"
    )  # Adam's step counter lives on the host
    return grads, state


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_gradient_and_optimizer_bytes_match_a_real_step_with_the_backbone_frozen(yolov5n: Path, optimizer: str) -> None:
    info = read_checkpoint(str(yolov5n))
    plan = preset(info, "backbone")
    assert 0 < plan.counts.frozen_params < plan.counts.total_params
    expected = state_bytes(plan.counts.total_params, plan.counts.trainable_params, optimizer)
    grads, state = _real_step(info, plan.frozen, optimizer)
    assert grads == expected.gradients
    assert state == expected.optimizer
    assert expected.weights == 4 * info.total_params
