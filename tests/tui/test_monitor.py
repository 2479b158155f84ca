"""The monitor screen, driven by recorded NVML samples through the sampler interface (Pilot)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.core.launch_helpers import make_record
from tests.tui.tui_support import wait_for
from yolofreeze.core.monitoring.gpu import GpuReading, GpuSample, ProcessReading, ProcessSampler, RecordedSampler
from yolofreeze.core.training.runs import RunRecord, run_status, write_json_atomic
from yolofreeze.tui.deps import AppDeps
from yolofreeze.tui.monitor_app import MonitorApp
from yolofreeze.tui.screens.confirm import ConfirmScreen
from yolofreeze.tui.widgets.ending_banner import EndingBanner
from yolofreeze.tui.widgets.gpu_panel import GpuPanel

OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB"


def record(root: Path, run_id: str, pid: int, created: float, log: str, **kw: object) -> RunRecord:
    return make_record(
        root,
        run_id,
        log=log,
        pid=pid,
        pid_create_time=created,
        device="0",
        gpus=1,
        frozen_tensors=99,
        predicted_reserved=3 << 30,
        predicted_nvidia_smi=4 << 30,
        **kw,
    )


def gpu_samples() -> list[GpuSample]:
    out = []
    for i, util in enumerate((5.0, 60.0, 97.0)):
        g = GpuReading(
            0,
            "NVIDIA H100 80GB HBM3",
            "GPU-1",
            "0000:01:00.0",
            0,
            util,
            40.0,
            (2 + i) << 30,
            80 << 30,
            61.0,
            250.0 + i,
            700.0,
            1980,
            None,
            (1 + i) << 30,
        )
        out.append(
            GpuSample(0.0, "recorded", (g,), ProcessReading((1, 2), 101.0, 2 << 30, 8 << 30, 32 << 30, (1 + i) << 30))
        )
    return out


@pytest.fixture
def sleeper() -> subprocess.Popen[bytes]:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield p
    if p.poll() is None:
        p.kill()
    p.wait()


async def test_live_run_with_recorded_nvml_then_stop(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    """A reader sees the GPU name, utilisation, N/A for the fan it lacks, both memory kinds labelled,
    progress with ETA, the log from its first line; then a confirmed stop ends it as STOPPED."""
    import threading

    rec = record(
        tmp_path,
        "live",
        sleeper.pid,
        psutil.Process(sleeper.pid).create_time(),
        "yolofreeze: supervisor starting\nEpoch 0/9\n",
    )
    threading.Thread(target=sleeper.wait, daemon=True).start()
    write_json_atomic(
        rec.dir / "progress.json",
        {
            "epoch": 1,
            "epochs": 10,
            "batch": 5,
            "batches": 10,
            "started": time.time() - 30,
            "updated": time.time(),
            "losses": [0.08, 0.01, 0.02],
            "torch_reserved": 3 << 30,
            "torch_max_reserved": 3 << 30,
        },
    )
    deps = AppDeps(state_dir=tmp_path, gpu_sampler_factory=lambda: RecordedSampler(gpu_samples()))
    app = MonitorApp("live", deps, interval=0.25)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_for(
            pilot,
            # query, not query_one: the panel may be mounted a frame before its fields are
            lambda: any("97%" in str(w.render()) for w in app.screen.query(".gpu-fields")),
            "the GPU panel",
        )
        # the memory line shows the newest sample at the next screen update (a loaded machine may
        # draw the panel and the memory line from two samples in one update)
        await wait_for(
            pilot,
            lambda: any(
                "nvidia-smi for this run 3.0 GiB" in str(m.render()) for m in app.screen.query("#memory-compare")
            ),
            "the memory line at the newest sample",
        )
        fields = str(app.screen.query_one(".gpu-fields").render())
        assert "util 97%" in fields and "fan N/A" in fields and "SM 1980 MHz" in fields
        assert "NVIDIA H100" in str(app.screen.query_one(".gpu-title").render())
        mem = str(app.screen.query_one("#memory-compare").render())
        assert "predicted: torch reserved 3.0 GiB, nvidia-smi 4.0 GiB" in mem
        assert "observed: torch reserved 3.0 GiB" in mem and "nvidia-smi for this run 3.0 GiB" in mem
        prog = str(app.screen.query_one("#progress-text").render())
        assert "epoch 2/10" in prog and "batch 5/10" in prog and "ETA 02:5" in prog  # 30 s for 15 % done
        assert "yolofreeze: supervisor starting" in "\n".join(app.screen.query_one("#log").lines)

        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the stop question")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen.query_one(EndingBanner).has_class("-shown"), "the ending banner")
        banner = app.screen.query_one(EndingBanner)
        assert banner.has_class("-stopped") and "STOPPED" in str(banner.render())
    assert run_status(rec).state == "stopped" and sleeper.poll() is not None


async def test_no_nvml_says_so_once_and_shows_processes(tmp_path: Path) -> None:
    rec = record(tmp_path, "oom", 999999, 0.0, "Epoch\n" + OOM + "\n")
    write_json_atomic(rec.dir / "exit.json", {"returncode": 1})
    deps = AppDeps(
        state_dir=tmp_path,
        gpu_sampler_factory=lambda: ProcessSampler(note="NVML unavailable: NVML Shared Library Not Found"),
    )
    app = MonitorApp("oom", deps, interval=0.25)
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                app.screen.query("#nvml-note")
                and str(app.screen.query_one("#nvml-note").render()).startswith("NVML")
                and app.screen.query_one(EndingBanner).has_class("-shown")
            ),
            "the NVML note and the ending",
        )
        note = str(app.screen.query_one("#nvml-note").render())
        assert note.startswith("NVML unavailable: NVML Shared Library Not Found")
        assert "CPU and RAM of the training processes" in note
        assert not app.screen.query(GpuPanel)
        assert "system RAM" in str(app.screen.query_one("#process-fields").render())
        banner = app.screen.query_one(EndingBanner)
        assert banner.has_class("-oom") and "CUDA OUT OF MEMORY" in str(banner.render())
        assert "Tried to allocate 2.00 GiB" in str(banner.render())


async def test_unknown_run_is_a_message_not_a_crash(tmp_path: Path) -> None:
    app = MonitorApp("nope", AppDeps(state_dir=tmp_path))
    async with app.run_test() as pilot:
        await wait_for(
            pilot, lambda: "no recorded runs" in str(app.screen.query_one("#monitor-title").render()), "the title"
        )
        assert "no recorded runs" in str(app.screen.query_one("#monitor-title").render())
