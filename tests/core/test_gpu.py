"""GPU samplers: the real NVML sampler's no-driver path, the psutil fallback, replay, the thread."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for
from yolofreeze.core.monitoring.gpu import (
    GpuReading,
    GpuSample,
    NvmlSampler,
    NvmlUnavailable,
    ProcessReading,
    ProcessSampler,
    RecordedSampler,
    SamplerThread,
    cuda_device_count,
    default_sampler,
    save_jsonl,
    visible_map,
)


def nvml_works() -> bool:
    try:
        NvmlSampler().close()
        return True
    except NvmlUnavailable:
        return False


@pytest.mark.skipif(nvml_works(), reason="this machine has an NVIDIA driver")
def test_no_driver_says_nvml_unavailable_and_falls_back() -> None:
    with pytest.raises(NvmlUnavailable):
        NvmlSampler()
    s = default_sampler()
    assert isinstance(s, ProcessSampler)
    sample = s.sample([os.getpid()])
    assert sample.note.startswith("NVML unavailable: ") and sample.gpus == ()
    assert sample.source == "psutil" and sample.processes.rss and sample.processes.rss > 0
    n, why = cuda_device_count()
    assert n == 0 and why.startswith("NVML unavailable")


def test_process_sampler_measures_cpu_of_the_given_pids() -> None:
    s = ProcessSampler()
    s.sample([os.getpid()])
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    r = s.sample([os.getpid(), 999999999]).processes
    assert r.pids == (os.getpid(),) and r.cpu_percent is not None and r.cpu_percent > 10
    assert r.ram_total and r.ram_used


def test_visible_devices_mapping() -> None:
    devs = [(0, "GPU-aaa", "0000:01:00.0"), (1, "GPU-bbb", "0000:41:00.0"), (2, "GPU-ccc", "0000:81:00.0")]
    assert visible_map(None, devs) == {0: 0, 1: 1, 2: 2}
    assert visible_map("2,0", devs) == {2: 0, 0: 1}
    assert visible_map("GPU-bb,GPU-ccc", devs) == {1: 0, 2: 1}
    assert visible_map("1,7,2", devs) == {1: 0}  # CUDA stops at the first invalid entry
    assert visible_map("", devs) == {} and visible_map("-1", devs) == {}


def sample(util: float, used: int) -> GpuSample:
    return GpuSample(
        0.0,
        "recorded",
        (GpuReading(0, "H100", util_gpu=util, mem_used=used, mem_total=80 << 30),),
        ProcessReading(pids=(1,), gpu_mem=used // 2),
    )


def test_recorded_sampler_replays_and_round_trips(tmp_path: Path) -> None:
    samples = [sample(10, 1 << 30), sample(90, 5 << 30)]
    save_jsonl(samples, tmp_path / "s.jsonl")
    r = RecordedSampler.from_jsonl(tmp_path / "s.jsonl")
    a, b, c = r.sample([]), r.sample([]), r.sample([])
    assert [a.gpus[0].util_gpu, b.gpus[0].util_gpu, c.gpus[0].util_gpu] == [10, 90, 90]
    assert b.processes.gpu_mem == (5 << 30) // 2 and b.time > 0


def test_sampler_thread_keeps_the_newest_and_survives_errors() -> None:
    got: list[GpuSample] = []
    th = SamplerThread(RecordedSampler([sample(1, 1), sample(2, 2)]), lambda: [], 0.25, got.append).start()
    wait_for(lambda: len(got) >= 3, what="three samples")  # past the recording's end: it keeps the last one
    th.stop()
    assert [g.gpus[0].util_gpu for g in got[:3]] == [1, 2, 2]
    assert th.latest is not None and th.latest.gpus[0].util_gpu == 2

    class Broken:
        def sample(self, pids: object) -> GpuSample:
            raise RuntimeError("GPU is lost")

        def close(self) -> None:
            pass

    th = SamplerThread(Broken(), lambda: [], 0.25).start()
    error = wait_for(lambda: th.error, what="the sampler's error")
    th.stop()
    assert "GPU is lost" in error and th.latest is None
