"""On a GPU box: launch a 1-epoch training through the launcher and check the NVML sampler sees it.

Checks: some sample shows memory used and utilisation above zero on the run's GPU, the run's own
processes are matched with GPU memory, and that memory agrees with
``nvidia-smi --query-compute-apps`` (within 64 MiB). Takes under 5 minutes.
On a machine without an NVIDIA driver it says so and exits 3 (distinct from pass 0 / fail 1).

Usage: python bench/gpu_monitor_check.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolofreeze.core.monitoring.gpu import NvmlSampler, NvmlUnavailable, process_tree  # noqa: E402

EXIT_NO_GPU = 3


def smi_apps() -> dict[int, int]:
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    apps = {}
    for line in out.splitlines():
        parts = [x.strip() for x in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            apps[int(parts[0])] = int(parts[1]) << 20
    return apps


def main() -> int:
    try:
        sampler = NvmlSampler()
    except NvmlUnavailable as e:
        print(f"no GPU: NVML unavailable ({e}); this check needs an NVIDIA driver and GPU. Nothing was run.")
        return EXIT_NO_GPU
    if not sampler.sample([]).gpus:
        print("no GPU: NVML works but lists no devices")
        return EXIT_NO_GPU
    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.plan.freeze import preset
    from yolofreeze.core.training.dataset import make_dataset
    from yolofreeze.core.training.launch import LaunchOptions, launch
    from yolofreeze.core.training.runs import run_status

    tmp = Path(tempfile.mkdtemp(prefix="yf-gpu-"))
    data = make_dataset(tmp / "ds", n_train=256, n_val=16, size=320)
    ckpt = ROOT / ".cache" / "ckpt" / "yolov5s.pt"
    info = read_checkpoint(ckpt)
    rec = launch(
        LaunchOptions(
            str(ckpt),
            str(data),
            preset(info, "backbone").frozen,
            epochs=1,
            batch=32,
            img=320,
            device="0",
            workers=4,
            project=str(tmp / "proj"),
            name="gpucheck",
        ),
        state=tmp / "st",
    )
    best_mem = best_util = 0.0
    matched: list[tuple[int, int]] = []  # (ours, nvidia-smi) bytes
    t0 = time.monotonic()
    while time.monotonic() - t0 < 270:
        st = run_status(rec)
        if st.ended:
            break
        pids = process_tree(rec.pid)
        s = sampler.sample(pids)
        g = s.gpus[0]
        best_mem = max(best_mem, g.mem_used or 0)
        best_util = max(best_util, g.util_gpu or 0)
        if s.processes.gpu_mem and shutil.which("nvidia-smi"):
            apps = smi_apps()
            theirs = sum(m for pid, m in apps.items() if pid in pids)
            if theirs:
                matched.append((s.processes.gpu_mem, theirs))
        time.sleep(0.5)
    st = run_status(rec)
    print(f"run {rec.run_id}: {st.state} ({st.detail}); GPU {s.gpus[0].name}")
    print(f"max NVML memory used {best_mem / 2**20:.0f} MiB, max utilisation {best_util:.0f}%")
    ok = best_mem > 0 and best_util > 0
    if matched:
        worst = max(abs(a - b) for a, b in matched)
        print(
            f"run's GPU memory vs nvidia-smi --query-compute-apps: {len(matched)} samples, worst diff "
            f"{worst / 2**20:.0f} MiB"
        )
        ok = ok and worst <= 64 << 20
    else:
        print(f"run's processes not matched in NVML's process list: {s.processes.note or 'no samples'}")
        ok = False
    sampler.close()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
