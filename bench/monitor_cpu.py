"""CPU cost of the monitor at 2 Hz: sampler thread + run-file polling + screen updates, headless.

A live "run" is watched by MonitorApp for DURATION seconds; the process CPU time it used is
divided by the wall time. Target: <= 2% of one core. The run is a child process that does what
the training does to its files at ~2 Hz (rewrites progress.json, appends tqdm-style log output,
a new log line every 10 s) and otherwise sleeps; its CPU is not the monitor's, so it is not
counted. The GPU side replays recorded NVML samples (no GPU here); the process side uses the real
psutil sampler on the live process. While measuring, the bench only sleeps (asyncio.sleep):
Pilot.pause walks every widget and forces a screen update per call, test-harness work that a
real ``attach`` never does.

Usage: python bench/monitor_cpu.py [SECONDS]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolofreeze.core.monitoring.gpu import GpuReading, GpuSample, NvmlSampler, ProcessReading, RecordedSampler
from yolofreeze.core.training.runs import RunRecord, write_json_atomic
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.monitor_app import MonitorApp


class NvmlLike(RecordedSampler):
    """Recorded GPU fields plus the real psutil reading of the run's processes."""

    def __init__(self, samples: list[GpuSample]) -> None:
        super().__init__(samples, loop=True)
        from yolofreeze.core.monitoring.gpu import ProcessSampler

        self.proc = ProcessSampler()

    def sample(self, pids):  # type: ignore[no-untyped-def]
        s = super().sample(pids)
        p = self.proc.sample(pids).processes
        return GpuSample(s.time, "recorded", s.gpus, p, "")


# The training's side, in its own process: progress record and log output at ~2 Hz.
TRAINER = r"""
import json, os, sys, time
run_dir, log = sys.argv[1], sys.argv[2]
batch = 0
while True:
    batch += 1
    tmp = os.path.join(run_dir, ".progress.json.tmp")
    with open(tmp, "w") as f:
        json.dump({"epoch": 3, "epochs": 10, "batch": batch % 100, "batches": 100, "started": time.time() - 60,
                   "updated": time.time(), "losses": [0.05, 0.01, 0.02]}, f, indent=1)
    os.replace(tmp, os.path.join(run_dir, "progress.json"))
    with open(log, "a") as f:
        f.write(f"      3/9   2.1G   0.05   0.01   0.02   {batch}  640: {batch}%|##   | {batch}/100\r")
        if batch % 20 == 0:
            f.write("\n")
    time.sleep(0.5)
"""


async def measure(seconds: float) -> tuple[float, float]:
    tmp = Path(tempfile.mkdtemp())
    run_dir = tmp / "runs" / "bench"
    run_dir.mkdir(parents=True)
    save = tmp / "save"
    save.mkdir()
    log = run_dir / "train.log"
    log.write_text("start\n")
    sleeper = subprocess.Popen([sys.executable, "-c", TRAINER, str(run_dir), str(log)], start_new_session=True)
    import psutil

    rec = RunRecord(
        "bench",
        str(run_dir),
        time.time(),
        "c.pt",
        "0",
        "d.yaml",
        ("python",),
        "/",
        sleeper.pid,
        sleeper.pid,
        psutil.Process(sleeper.pid).create_time(),
        str(log),
        "p",
        "n",
        "0",
        1,
        99,
        True,
        predicted_reserved=3 << 30,
        predicted_nvidia_smi=4 << 30,
    )
    rec.save()
    write_json_atomic(run_dir / "status.json", {"phase": "training", "save_dir": str(save)})
    (save / "results.csv").write_text(
        "epoch,train/box_loss,train/obj_loss,train/cls_loss,metrics/mAP_0.5\n"
        + "".join(f"{i},0.0{9 - i},0.01,0.02,0.{i}\n" for i in range(8))
    )
    samples = [
        GpuSample(
            0,
            "recorded",
            (
                GpuReading(
                    0,
                    "H100",
                    "GPU-1",
                    "",
                    0,
                    float(u),
                    30.0,
                    (10 + u) << 28,
                    80 << 30,
                    60.0,
                    300.0,
                    700.0,
                    1980,
                    40.0,
                    8 << 30,
                ),
            ),
            ProcessReading(),
        )
        for u in range(0, 100, 7)
    ]
    deps = AppDeps(state_dir=tmp, gpu_sampler_factory=lambda: NvmlLike(samples))
    app = MonitorApp("bench", deps, interval=0.5)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(2.0)  # settle: first layout, first samples
        t_cpu, t_wall = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - t_cpu, time.monotonic() - t_wall
    sleeper.kill()
    sleeper.wait()
    return cpu, wall


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    cpu, wall = asyncio.run(measure(seconds))
    try:
        NvmlSampler().close()
        nvml = "NVML present"
    except Exception as e:
        nvml = f"NVML unavailable here ({e}); GPU fields replayed from recorded samples"
    print(
        f"monitor at 2 Hz for {wall:.1f} s: {cpu:.2f} s CPU = {100 * cpu / wall:.2f}% of one core "
        f"(target <= 2%); {nvml}; {os.cpu_count()} CPUs; textual headless"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
