"""Predicted vs measured training GPU memory: real yolov5 steps on a CUDA GPU against the estimate.

Usage: python bench/gpu_memory_check.py [--out results.md] [--models yolov5n,yolov5s,yolov5m]
       [--plans none,backbone,all] [--batches 16,32] [--img 640] [--steps 3]

For each case it runs train.py's inner loop for real (uint8 images to float, autocast forward,
ComputeLoss, GradScaler, unscale + clip, smart_optimizer step, zero_grad, ModelEMA update),
reads torch.cuda.max_memory_allocated / max_memory_reserved and NVML's used memory, and prints
them next to the prediction with the error of each. The NVML - reserved column is what the
CUDA_CONTEXT_BYTES constant stands for: calibrate it from this table, never per case.
It also prints torchinfo's estimate and the "4 x parameters" rule for the same cases.
Without a GPU it still prints predictions and the comparisons, and says it measured nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import io
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MIB = 1 << 20
CKPT_DIR = ROOT / ".cache" / "bench-ckpt"


def checkpoint(name: str) -> Path:
    """A freshly initialised yolov5 checkpoint (no download), built once."""
    from yolofreeze.core.training.child.build import build_checkpoint

    path = CKPT_DIR / f"{name}.pt"
    if not path.exists():
        CKPT_DIR.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()):  # yolov5 prints its model table
            build_checkpoint(name, path)
    return path


def real_model(info: Any) -> Any:
    from yolofreeze.core.checkpoint.yamlgate import gated_cfg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yolov5.models.yolo import DetectionModel

    with contextlib.redirect_stdout(io.StringIO()):
        return DetectionModel(gated_cfg(info.yaml), ch=3, nc=info.yaml["nc"])


def torchinfo_bytes(model: Any, batch: int, img: int) -> int:
    """torchinfo's "Estimated Total Size" (input + forward/backward pass + params).

    Its pass size is linear in the batch, so it is measured at batch 1 and scaled (a batch-16
    CPU forward of yolov5m would take minutes here).
    """
    import torchinfo

    s = torchinfo.summary(model, input_size=(1, 3, img, img), verbose=0, mode="train")
    return batch * (s.total_input + s.total_output_bytes) + s.total_param_bytes


def four_x_params(info: Any) -> int:
    """The rule of thumb: weights + gradients + two optimizer moments = 16 bytes per parameter."""
    return 4 * 4 * info.total_params


def measure_cuda(info: Any, frozen: frozenset[str], optimizer: str, batch: int, img: int, steps: int) -> dict[str, int]:
    """Run ``steps`` real training iterations; torch's peaks and NVML's used memory, in bytes."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from yolov5.utils.loss import ComputeLoss
        from yolov5.utils.torch_utils import ModelEMA, smart_optimizer

    from yolofreeze.core.memory.tracing.trace import HYP

    dev = torch.device("cuda:0")
    model = real_model(info).to(dev)
    model.hyp = HYP
    for name, p in model.named_parameters():
        p.requires_grad_(name not in frozen)
    model.train()
    ema = ModelEMA(model)
    opt = smart_optimizer(model, optimizer, HYP["lr0"], HYP["momentum"], HYP["weight_decay"])
    scaler = torch.amp.GradScaler("cuda", enabled=True)
    compute_loss = ComputeLoss(model)
    gen = torch.Generator().manual_seed(0)
    n = 7 * batch  # about COCO's labels per image
    labels = torch.cat(
        [
            torch.randint(0, batch, (n, 1), generator=gen).float(),
            torch.randint(0, info.yaml["nc"], (n, 1), generator=gen).float(),
            0.2 + 0.6 * torch.rand(n, 2, generator=gen),
            0.02 + 0.3 * torch.rand(n, 2, generator=gen),
        ],
        1,
    )
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    imgs = pred = loss = None
    for _ in range(steps):
        imgs = torch.randint(0, 255, (batch, 3, img, img), dtype=torch.uint8).pin_memory()
        imgs = imgs.to(dev, non_blocking=True).float() / 255
        with torch.autocast("cuda", enabled=True):
            pred = model(imgs)
            loss, _ = compute_loss(pred, labels.to(dev))
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
        ema.update(model)
    torch.cuda.synchronize()
    out = {
        "allocated": torch.cuda.max_memory_allocated(),
        "reserved": torch.cuda.max_memory_reserved(),
        "nvml": nvml_used(),
    }
    del model, ema, opt, scaler, compute_loss, imgs, pred, loss
    gc.collect()
    torch.cuda.empty_cache()
    return out


def nvml_used(index: int = 0) -> int:
    import pynvml

    pynvml.nvmlInit()
    try:
        return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index)).used)
    finally:
        pynvml.nvmlShutdown()


def mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / MIB:,.0f}"


def err(pred: int, real: int | None) -> str:
    return "n/a" if not real else f"{(pred - real) / real:+.1%}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    ap.add_argument("--models", default="yolov5n,yolov5s,yolov5m")
    ap.add_argument("--plans", default="none,backbone,all")
    ap.add_argument("--batches", default="16,32")
    ap.add_argument("--img", type=int, default=640)
    ap.add_argument("--optimizer", default="SGD")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--no-torchinfo", action="store_true", help="skip torchinfo (its CPU forward is slow)")
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import yolov5.models.yolo  # noqa: F401  (its import configures logging: silence it after)
    logging.getLogger("yolov5").disabled = True  # its model tables would bury the figures

    # train.py's init_seeds(deterministic=True), before CUDA starts
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.memory.estimator import CUDA_CONTEXT_BYTES, WORKSPACE_BYTES, TrainConfig, estimate_memory
    from yolofreeze.core.plan.freeze import preset

    gpu = torch.cuda.is_available()
    if gpu:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.zeros(1, device="cuda")  # context up before the first NVML reading
        device = f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    else:
        device = f"no CUDA GPU (CPU only), torch {torch.__version__}"
        print("NO GPU: measured columns are n/a; this run only prints predictions and comparisons.\n")
    t_start = time.perf_counter()
    rows = []
    header = (
        "| model | plan | batch | pred alloc | real alloc | err | pred reserved | real reserved | err "
        "| pred nvidia-smi | NVML used | err | NVML - reserved | torchinfo | 4 x params |"
    )
    print(header)
    print("|" + "---|" * 15)
    for name in args.models.split(","):
        info = read_checkpoint(str(checkpoint(name)))
        model_cpu = None if args.no_torchinfo else real_model(info)
        for plan_name in args.plans.split(","):
            frozen = preset(info, plan_name).frozen
            for batch in (int(b) for b in args.batches.split(",")):
                est = estimate_memory(info, frozen, TrainConfig(batch=batch, img=args.img, optimizer=args.optimizer))
                real = measure_cuda(info, frozen, args.optimizer, batch, args.img, args.steps) if gpu else {}
                ti = torchinfo_bytes(model_cpu, batch, args.img) if model_cpu is not None else 0
                p = est.plan
                ctx = real["nvml"] - real["reserved"] if real else None
                row = (
                    f"| {name} | {plan_name} | {batch} | {p.peak_allocated / MIB:,.0f} | "
                    f"{mib(real.get('allocated'))} | {err(p.peak_allocated, real.get('allocated'))} | "
                    f"{p.peak_reserved / MIB:,.0f} | {mib(real.get('reserved'))} | "
                    f"{err(p.peak_reserved, real.get('reserved'))} | {p.nvidia_smi / MIB:,.0f} | "
                    f"{mib(real.get('nvml'))} | {err(p.nvidia_smi, real.get('nvml'))} | "
                    f"{'n/a' if ctx is None else f'{ctx / MIB:,.0f}'} | {ti / MIB:,.0f} | "
                    f"{four_x_params(info) / MIB:,.0f} |"
                )
                rows.append(row)
                print(row, flush=True)
    elapsed = time.perf_counter() - t_start
    notes = [
        f"{datetime.date.today()} on {device}; img {args.img}, {args.optimizer}, AMP on, {args.steps} steps per case.",
        "All figures MiB per GPU. 'pred' = core.memory.estimator (traced on fake tensors, caching-allocator model).",
        f"Constants: CUDA_CONTEXT_BYTES {CUDA_CONTEXT_BYTES // MIB} MiB, WORKSPACE_BYTES {WORKSPACE_BYTES // MIB} MiB.",
        "torchinfo = its Estimated Total Size (scaled from batch 1); 4 x params = 16 bytes per parameter.",
        f"Total time {elapsed:.0f} s." + ("" if gpu else " NO GPU: nothing was measured."),
    ]
    print("\n" + "\n".join(notes))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join([*notes, "", header, "|" + "---|" * 15, *rows]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
