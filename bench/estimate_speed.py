"""How long the traced estimate takes: first estimate (traces), then a batch/img change (replay).

Usage: python bench/estimate_speed.py [--model yolov5m] [--plan backbone]
Targets on the 2-core dev machine: first estimate <= 3 s after imports; batch/img change <= 0.2 s.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="yolov5m")
    ap.add_argument("--plan", default="backbone")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch  # noqa: F401
        import yolov5.models.yolo  # noqa: F401

        from yolofreeze.core.memory.tracing import trace  # noqa: F401
    t_import = time.perf_counter() - t0
    logging.getLogger("yolov5").disabled = True  # its model tables would bury the figures
    from bench.gpu_memory_check import checkpoint
    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.plan.freeze import preset

    path = checkpoint(args.model)
    from yolofreeze.core.memory import estimator
    from yolofreeze.core.memory.estimator import TrainConfig, estimate_memory, max_batch

    info = read_checkpoint(str(path))
    frozen = preset(info, args.plan).frozen
    t0, c0 = time.perf_counter(), time.process_time()
    est = estimate_memory(info, frozen, TrainConfig(batch=16, img=640))
    t_first, c_first = time.perf_counter() - t0, time.process_time() - c0
    n_traces = 2 * (len(estimator._TRACE_CACHE) + len(estimator._VAL_CACHE))  # steps, validation
    t0 = time.perf_counter()
    estimate_memory(info, frozen, TrainConfig(batch=16, img=640, optimizer="SGD", amp=True))
    t_cached = time.perf_counter() - t0
    changes = []
    for batch, img in ((32, 640), (16, 512), (8, 1280), (64, 320)):
        t0 = time.perf_counter()
        estimate_memory(info, frozen, TrainConfig(batch=batch, img=img))
        changes.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    best = max_batch(info, frozen, TrainConfig(batch=16, img=640), 24 << 30)
    t_max = time.perf_counter() - t0
    t0 = time.perf_counter()
    estimate_memory(info, preset(info, "all").frozen, TrainConfig(batch=16, img=640))
    t_new_plan = time.perf_counter() - t0

    lines = [
        f"{datetime.datetime.now():%Y-%m-%d %H:%M} {platform.node()} {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}, python {platform.python_version()}",
        f"model {args.model}, plan {args.plan}, batch 16, img 640, SGD, AMP",
        f"imports (torch, yolov5, tracer)          {t_import:6.2f} s  (not counted in the target)",
        f"first estimate ({n_traces} traces + model build)   {t_first:6.2f} s  (target <= 3 s); "
        f"CPU {c_first:.2f} s (the machine is shared: CPU time below wall time means waiting)",
        f"same estimate again (cached)            {t_cached:6.3f} s",
        f"batch/img change (replay only), worst   {max(changes):6.3f} s  (target <= 0.2 s); "
        f"each: {', '.join(f'{c:.3f}' for c in changes)}",
        f"max batch for 24 GiB (binary search)    {t_max:6.3f} s  -> {best}",
        f"another plan (2 traces, baseline cached){t_new_plan:6.2f} s",
        f"predicted nvidia-smi: plan {est.plan.nvidia_smi / 2**20:,.0f} MiB, "
        f"no freeze {est.baseline.nvidia_smi / 2**20:,.0f} MiB",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
