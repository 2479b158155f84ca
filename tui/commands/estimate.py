"""``yolofreeze-tui estimate PATH (--preset P | --plan FILE) --batch B --img S [...]``.

Prints the predicted per-GPU training memory for the plan against no freezing, and with a GPU
size (``--gpu-mem`` or NVML) whether the batch fits and the largest batch that does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.errors import EXIT_OK, UsageError
from yolofreeze.core.memory.estimator import (
    MemoryEstimate,
    RunPeak,
    StepFlops,
    TrainConfig,
    effective_img,
    estimate_memory,
    max_batch,
    reporting,
)
from yolofreeze.core.monitoring.nvml import gpu_total_memory
from yolofreeze.core.plan.schedule import Schedule
from yolofreeze.core.training import options
from yolofreeze.tui.commands.common import (
    MAX_GPU_GIB,
    add_checkpoint_argument,
    add_plan_arguments,
    open_checkpoint,
    positive_number,
    resolve_schedule,
    whole_number,
)
from yolofreeze.tui.format import human_bytes, human_count, step_time_text

_ROWS = (
    ("weights", "weights (fp32)"),
    ("ema", "EMA copy"),
    ("gradients", "gradients"),
    ("optimizer", "optimizer state"),
    ("amp_cache", "AMP fp16 weights"),
    ("activations", "saved activations"),
    ("temporaries", "step temporaries"),
    ("peak_allocated", "= peak allocated"),
    ("allocator_slack", "allocator slack"),
    ("peak_reserved", "= peak reserved"),
    ("cuda_context", "CUDA context"),
    ("nvidia_smi", "= nvidia-smi"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_checkpoint_argument(p)
    add_plan_arguments(p)
    d = options.DEFAULTS
    p.add_argument(
        "--batch",
        type=whole_number("batch", 1, options.MAX_BATCH),
        required=True,
        metavar="B",
        help="total batch size (train.py --batch-size)",
    )
    p.add_argument(
        "--img",
        type=whole_number("image size", 32, options.MAX_IMG),
        required=True,
        metavar="S",
        help="training image size in pixels (rounded up as train.py does)",
    )
    p.add_argument(
        "--optimizer",
        choices=options.OPTIMIZERS,
        default=d.optimizer,
        metavar="O",
        help=f"{', '.join(options.OPTIMIZERS)} (default: {d.optimizer})",
    )
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=d.amp,
        help=f"mixed precision, as train.py uses on CUDA (default: {'on' if d.amp else 'off'})",
    )
    p.add_argument(
        "--gpus",
        type=whole_number("gpus", 1, options.MAX_GPUS),
        default=d.gpus,
        metavar="N",
        help=f"GPUs for DDP; each gets batch / N (default: {d.gpus})",
    )
    p.add_argument(
        "--gpu-mem",
        type=positive_number("--gpu-mem", MAX_GPU_GIB),
        metavar="GiB",
        help="memory of one GPU, for the fit check and the largest batch (default: read from NVML)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="say each slow step on stderr (default: when stderr is a terminal)",
    )


def run(args: argparse.Namespace) -> int:
    config = TrainConfig(batch=args.batch, img=args.img, optimizer=args.optimizer, amp=args.amp, gpus=args.gpus)
    config.validate()  # before reading anything: bad options are the cheapest error
    if args.gpu_mem is not None and not args.gpu_mem > 0:
        raise UsageError(f"--gpu-mem must be more than 0 GiB, got {args.gpu_mem}")
    info = open_checkpoint(args)
    info.require_safe("estimate memory for it")  # exit 3: the estimate would build (and run) it
    plan, schedule = resolve_schedule(info, args)
    show = sys.stderr.isatty() if args.progress is None else args.progress
    started = time.monotonic()

    def say(step: str) -> None:
        if show:
            print(f"estimate: {step} … ({time.monotonic() - started:.1f} s)", file=sys.stderr, flush=True)

    with reporting(say):
        phases = _phase_estimates(info, schedule, config)
        # A schedule must fit in its largest phase (whole run): that one is the table and the fit check.
        peak = max(range(len(phases)), key=lambda i: phases[i][1].run_nvidia_smi) if phases else None
        frozen = schedule.phases[peak].frozen if schedule is not None and peak is not None else plan.frozen
        est = phases[peak][1] if peak is not None else estimate_memory(info, plan.frozen, config)
        gpu_bytes = int(args.gpu_mem * (1 << 30)) if args.gpu_mem is not None else gpu_total_memory()
        if gpu_bytes:
            say("searching the largest batch that fits")
        best = max_batch(info, frozen, config, gpu_bytes) if gpu_bytes else None
    img = effective_img(info, config.img)
    label = f"preset {args.preset}" if args.preset else f"plan {os.path.basename(args.plan)}"
    if peak is not None:
        label += f", peak phase {peak}"
    if args.json:
        doc = _as_json(est, label, img, gpu_bytes, best)
        if peak is not None:
            doc["phases"] = [
                {"from_epoch": e, "nvidia_smi": x.plan.nvidia_smi, "run_nvidia_smi": x.run_nvidia_smi}
                for e, x in phases
            ]
            doc["peak_phase"] = peak
        print(json.dumps(doc, indent=2))
    else:
        for i, (e, x) in enumerate(phases):
            mark = "  <- peak: must fit" if i == peak else ""
            print(f"phase {i} (from epoch {e}): {human_bytes(x.run_nvidia_smi)} per GPU (nvidia-smi, whole run){mark}")
        print(
            _table(
                est,
                label,
                img,
                sum(p.numel for p in info.parameters if p.name in frozen),
                plan.counts.total_params,
                gpu_bytes,
                best,
                args.gpu_mem is not None,
            )
        )
    return EXIT_OK


def _phase_estimates(
    info: ModelInfo, schedule: Schedule | None, config: TrainConfig
) -> list[tuple[int, MemoryEstimate]]:
    """(start epoch, estimate) per phase of a schedule; empty for a plain plan."""
    if schedule is None or len(schedule.phases) < 2:
        return []
    return [(ph.start_epoch, estimate_memory(info, ph.frozen, config)) for ph in schedule.phases]


def _fits(est: MemoryEstimate, gpu_bytes: int | None) -> bool | None:
    return None if not gpu_bytes else est.run_nvidia_smi <= gpu_bytes  # epoch 0 fitting is not enough


def _flops(f: StepFlops) -> dict[str, int]:
    return {"step_flops": f.step, "forward_flops": f.forward, "backward_flops": f.backward}


def _as_json(est: MemoryEstimate, label: str, img: int, gpu_bytes: int | None, best: int | None) -> dict[str, object]:
    return {
        "plan_source": label,
        "config": asdict(est.config),
        "effective_img": img,
        "per_gpu_batch": est.config.per_gpu_batch,
        "accumulate": est.accumulate,
        "units": "bytes per GPU; *_flops: FLOPs of one iteration on one GPU",
        "step_flops_per": "iteration (one micro-batch of per_gpu_batch images: forward with the loss, backward)",
        "plan": {**asdict(est.plan), **_run_json(est.plan_run), **_flops(est.plan_flops)},
        "baseline": {**asdict(est.baseline), **_run_json(est.baseline_run), **_flops(est.baseline_flops)},
        "saved_bytes": est.saved_bytes,
        "saved_fraction": round(est.saved_fraction, 4),
        "step_ratio": round(est.step_ratio, 4),
        "gpu_memory_bytes": gpu_bytes,
        "fits": _fits(est, gpu_bytes),
        "max_batch": best,
    }


def _run_json(run: RunPeak | None) -> dict[str, object]:
    """The whole run beside the step: ``peak_reserved`` stays epoch 0's steps."""
    if run is None:
        return {}
    return {
        "run_peak_allocated": run.peak_allocated,
        "run_peak_reserved": run.peak_reserved,
        "run_nvidia_smi": run.nvidia_smi,
        "run_peak_phase": run.phase,
    }


def _table(
    est: MemoryEstimate,
    label: str,
    img: int,
    frozen: int,
    total: int,
    gpu_bytes: int | None,
    best: int | None,
    given: bool,
) -> str:
    c = est.config
    lines = [
        f"{label}: {frozen:,} of {total:,} parameters frozen",
        f"batch {c.batch} ({c.per_gpu_batch} per GPU x {c.gpus}), img {img}"
        + (f" (rounded up from {c.img})" if img != c.img else "")
        + f", {c.optimizer}, AMP {'on' if c.amp else 'off'}, accumulate {est.accumulate}",
        "",
        f"{'per GPU':<20}{'plan':>12}{'no freeze':>12}{'saved':>12}",
    ]
    for field, title in _ROWS:
        p, b = getattr(est.plan, field), getattr(est.baseline, field)
        lines.append(f"{title:<20}{human_bytes(p):>12}{human_bytes(b):>12}{human_bytes(b - p):>12}")
    p, b = est.plan_run, est.baseline_run
    if p is not None and b is not None:
        for title, mine, theirs in (
            ("whole run reserved", p.peak_reserved, b.peak_reserved),
            ("= whole run smi", p.nvidia_smi, b.nvidia_smi),
        ):
            lines.append(f"{title:<20}{human_bytes(mine):>12}{human_bytes(theirs):>12}{human_bytes(theirs - mine):>12}")
    lines.append("")
    if p is not None:
        lines.append(
            f"the whole run needs {human_bytes(p.nvidia_smi)} per GPU (nvidia-smi), set by {p.phase}; "
            f"the steps before the first validation {human_bytes(est.plan.nvidia_smi)}"
        )
    lines.append(f"freezing saves {human_bytes(est.saved_bytes)} ({est.saved_fraction:.0%}) of reserved memory")
    lines.append(
        f"{step_time_text(est.step_ratio)}: {human_count(est.plan_flops.step)} of "
        f"{human_count(est.baseline_flops.step)} FLOPs per iteration ({c.per_gpu_batch} images, forward + backward)"
    )
    if gpu_bytes:
        where = "given" if given else "from NVML"
        verdict = "fits" if _fits(est, gpu_bytes) else "does NOT fit"
        lines.append(
            f"GPU memory {human_bytes(gpu_bytes)} ({where}): batch {c.batch} {verdict}; "
            f"largest batch that fits: {best if best else 'none'}"
        )
    else:
        lines.append("no GPU found: pass --gpu-mem GiB to check the fit and get the largest batch")
    return "\n".join(lines)
