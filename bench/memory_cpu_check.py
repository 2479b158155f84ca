"""What can be checked without a GPU: traced saved activations against real CPU saved tensors.

Usage: python bench/memory_cpu_check.py [--models yolov5n,yolov5s] [--batch 2] [--img 320]

For each model and plan it runs a real fp32 CPU forward + ComputeLoss under
torch.autograd.graph.saved_tensors_hooks (unique storages, weights excluded) and the fake-tensor
trace of the same step, and prints both with their difference. Then, for batch 16 at 640 px, it
prints the predicted peaks next to torchinfo's estimate and the "4 x parameters" rule.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MIB = 1 << 20


def real_saved_bytes(info: Any, frozen: frozenset[str], batch: int, img: int) -> int:
    import torch

    from yolofreeze.core.checkpoint.yamlgate import gated_cfg
    from yolofreeze.core.memory.tracing import trace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yolov5.models.yolo import DetectionModel
        from yolov5.utils.loss import ComputeLoss
    nc = info.yaml["nc"]
    with contextlib.redirect_stdout(io.StringIO()):
        model = DetectionModel(gated_cfg(info.yaml), ch=3, nc=nc)
    model.hyp = trace.HYP
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    model.train()
    sk = trace.skeleton(json.dumps(info.yaml, sort_keys=True), nc)
    tcls, tbox, indices, anch = trace._real_targets(sk, nc)  # the trace's own boxes
    indices = [
        (b, a, gj.clamp(0, img // s - 1), gi.clamp(0, img // s - 1))
        for (b, a, gj, gi), s in zip(indices, sk.strides, strict=True)
    ]
    loss_fn = ComputeLoss(model)
    loss_fn.build_targets = lambda p, t: (tcls, tbox, indices, anch)
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st.data_ptr() not in weights:
            seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = loss_fn(model(torch.rand(batch, 3, img, img)), torch.zeros(trace.LABELS, 6))
    del loss
    return sum(seen.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="yolov5n,yolov5s")
    ap.add_argument("--plans", default="none,backbone,all")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--img", type=int, default=320)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import yolov5.models.yolo  # noqa: F401  (its import configures logging: silence it after)
    logging.getLogger("yolov5").disabled = True  # its model tables would bury the figures
    from bench.gpu_memory_check import checkpoint, four_x_params, real_model, torchinfo_bytes
    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.memory.estimator import TrainConfig, estimate_memory
    from yolofreeze.core.memory.tracing.trace import trace_step
    from yolofreeze.core.plan.freeze import preset

    print(f"{datetime.date.today()}: saved activations, fp32, batch {args.batch}, img {args.img} (MiB)")
    print(f"{'model':<9}{'plan':<10}{'traced':>10}{'real CPU':>10}{'diff':>8}{'trace s':>9}")
    for name in args.models.split(","):
        info = read_checkpoint(str(checkpoint(name)))
        for plan_name in args.plans.split(","):
            frozen = preset(info, plan_name).frozen
            t0 = time.perf_counter()
            traced = trace_step(info.yaml, info.yaml["nc"], frozen, "SGD", False, args.batch, args.img)
            dt = time.perf_counter() - t0
            real = real_saved_bytes(info, frozen, args.batch, args.img)
            diff = (traced.saved_activation_bytes - real) / real
            print(
                f"{name:<9}{plan_name:<10}{traced.saved_activation_bytes / MIB:>10.1f}{real / MIB:>10.1f}"
                f"{diff:>+8.2%}{dt:>9.2f}",
                flush=True,
            )

    print("\npredicted per-GPU peaks, batch 16, img 640, SGD, AMP (MiB); torchinfo and 4 x params for comparison")
    print(
        f"{'model':<9}{'plan':<10}{'activations':>12}{'allocated':>11}{'reserved':>10}{'nvidia-smi':>11}"
        f"{'torchinfo':>11}{'4xparams':>10}"
    )
    for name in args.models.split(","):
        info = read_checkpoint(str(checkpoint(name)))
        ti = torchinfo_bytes(real_model(info), 16, 640)
        for plan_name in args.plans.split(","):
            p = estimate_memory(info, preset(info, plan_name).frozen, TrainConfig(batch=16, img=640)).plan
            print(
                f"{name:<9}{plan_name:<10}{p.activations / MIB:>12,.0f}{p.peak_allocated / MIB:>11,.0f}"
                f"{p.peak_reserved / MIB:>10,.0f}{p.nvidia_smi / MIB:>11,.0f}{ti / MIB:>11,.0f}"
                f"{four_x_params(info) / MIB:>10,.0f}",
                flush=True,
            )
    print("\ntorchinfo and 4 x params do not change with the plan: neither sees requires_grad.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
