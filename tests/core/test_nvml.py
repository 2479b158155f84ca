"""The NVML gateway against a scripted pynvml (this machine has no driver; the real library is
exercised by bench/gpu_monitor_check.py on a GPU box): per-field N/A, the versioned process calls,
CUDA_VISIBLE_DEVICES, and the sampler built on top."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from yolofreeze.core.monitoring import nvml
from yolofreeze.core.monitoring.gpu import NvmlSampler, cuda_device_count


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_FunctionNotFound(NVMLError):
    pass


def fake_pynvml(gpus: list[dict[str, Any]], proc_versions: tuple[str, ...] = ("v1",)) -> types.ModuleType:
    """A pynvml whose answers come from ``gpus``; a key holding an exception class raises it."""
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError  # type: ignore[attr-defined]
    m.NVMLError_FunctionNotFound = NVMLError_FunctionNotFound  # type: ignore[attr-defined]
    m.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    m.NVML_CLOCK_SM = 1  # type: ignore[attr-defined]
    m.calls = []  # type: ignore[attr-defined]

    def field(key: str) -> Any:
        def fn(h: int, *args: Any) -> Any:
            v = gpus[h][key]
            if isinstance(v, type) and issubclass(v, Exception):
                raise v()
            return v

        return fn

    m.nvmlInit = lambda: m.calls.append("init")  # type: ignore[attr-defined]
    m.nvmlShutdown = lambda: m.calls.append("shutdown")  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: len(gpus)  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    m.nvmlDeviceGetName = field("name")  # type: ignore[attr-defined]
    m.nvmlDeviceGetUUID = field("uuid")  # type: ignore[attr-defined]
    m.nvmlDeviceGetPciInfo = lambda h: types.SimpleNamespace(busId=gpus[h]["pci"])  # type: ignore[attr-defined]
    m.nvmlDeviceGetMemoryInfo = field("mem")  # type: ignore[attr-defined]
    m.nvmlDeviceGetEnforcedPowerLimit = field("limit")  # type: ignore[attr-defined]
    m.nvmlDeviceGetUtilizationRates = field("util")  # type: ignore[attr-defined]
    m.nvmlDeviceGetTemperature = field("temp")  # type: ignore[attr-defined]
    m.nvmlDeviceGetPowerUsage = field("power")  # type: ignore[attr-defined]
    m.nvmlDeviceGetClockInfo = field("clock")  # type: ignore[attr-defined]
    m.nvmlDeviceGetFanSpeed = field("fan")  # type: ignore[attr-defined]
    procs = field("procs")

    def missing(h: int) -> Any:
        raise NVMLError_FunctionNotFound()

    for version, name in (
        ("v3", "nvmlDeviceGetComputeRunningProcesses_v3"),
        ("v2", "nvmlDeviceGetComputeRunningProcesses_v2"),
        ("v1", "nvmlDeviceGetComputeRunningProcesses"),
    ):
        setattr(m, name, procs if version in proc_versions else missing)
    return m


def gpu(i: int, **over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": f"NVIDIA H200 #{i}".encode(),
        "uuid": f"GPU-{i:08d}-aaaa",
        "pci": f"00000000:{i:02x}:00.0",
        "mem": types.SimpleNamespace(total=(141 << 30), used=(1 << 30) * (i + 1)),
        "limit": 700_000,
        "util": types.SimpleNamespace(gpu=50 + i, memory=20),
        "temp": 40,
        "power": 300_000,
        "clock": 1980,
        "fan": NVMLError_NotSupported,  # data-centre cards have no fan
        "procs": [types.SimpleNamespace(pid=100 + i, usedGpuMemory=(2 << 30))],
    }
    d.update(over)
    return d


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def put(module: types.ModuleType) -> types.ModuleType:
        monkeypatch.setitem(sys.modules, "pynvml", module)
        return module

    yield put


def test_each_unsupported_field_is_none_on_its_own(install: Any) -> None:
    install(fake_pynvml([gpu(0, util=NVMLError_NotSupported, temp=NVMLError_NotSupported)]))
    with nvml.NvmlSession() as s:
        (h,) = s.handles
        assert s.devices[0].name == "NVIDIA H200 #0" and s.devices[0].mem_total == 141 << 30
        assert s.devices[0].power_limit == 700.0
        assert s.utilization(h) is None and s.temperature(h) is None and s.fan(h) is None
        assert s.memory_used(h) == 1 << 30 and s.power(h) == 300.0 and s.sm_clock(h) == 1980


def test_process_list_falls_back_from_v3_to_v1(install: Any) -> None:
    install(fake_pynvml([gpu(0)], proc_versions=("v1",)))
    with nvml.NvmlSession() as s:
        assert s.compute_processes(s.handles[0]) == {100: 2 << 30}


def test_hidden_process_memory_is_none_not_zero(install: Any) -> None:
    install(fake_pynvml([gpu(0, procs=[types.SimpleNamespace(pid=7, usedGpuMemory=None)])], ("v3",)))
    with nvml.NvmlSession() as s:
        assert s.compute_processes(s.handles[0]) == {7: None}


def test_session_is_shut_down_once(install: Any) -> None:
    fake = install(fake_pynvml([gpu(0)]))
    s = nvml.NvmlSession()
    s.close()
    s.close()
    assert fake.calls == ["init", "shutdown"]


def test_cuda_visible_devices_renumbers_for_cuda_not_nvml(install: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    install(fake_pynvml([gpu(0), gpu(1), gpu(2)]))
    devices, why = nvml.visible_devices("2,GPU-00000000")
    assert why == "" and [(d.index, cuda) for d, cuda in devices] == [(2, 0), (0, 1)]  # in CUDA order
    assert nvml.gpu_total_memory(0, "2") == 141 << 30 and nvml.gpu_total_memory(1, "2") is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_device_count() == (0, "CUDA_VISIBLE_DEVICES hides every GPU")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    assert cuda_device_count() == (2, "")


def test_sampler_reads_the_runs_memory_and_keeps_na_fields(install: Any) -> None:
    install(fake_pynvml([gpu(0), gpu(1)], ("v2",)))
    sampler = NvmlSampler(cvd="1")
    try:
        sample = sampler.sample([101])
    finally:
        sampler.close()
    g0, g1 = sample.gpus
    assert (g0.cuda_index, g1.cuda_index) == (None, 0)
    assert g1.run_mem == 2 << 30 and g0.run_mem is None and sample.processes.gpu_mem == 2 << 30
    assert g1.fan is None and g1.util_gpu == 51.0 and g1.mem_used == 2 << 30


def test_foreign_pids_are_said_not_hidden(install: Any) -> None:
    install(fake_pynvml([gpu(0)]))
    sampler = NvmlSampler()
    try:
        sample = sampler.sample([999_999])
    finally:
        sampler.close()
    assert sample.processes.gpu_mem is None and "none with this run's PIDs" in sample.processes.note


def test_no_library_or_driver_is_a_reason(install: Any) -> None:
    broken = fake_pynvml([])

    def fail() -> None:
        raise NVMLError("Driver Not Loaded")

    broken.nvmlInit = fail  # type: ignore[attr-defined]
    install(broken)
    with pytest.raises(nvml.NvmlUnavailable, match="Driver Not Loaded"):
        nvml.NvmlSession()
    assert nvml.visible_devices(None) == ([], "NVML unavailable: Driver Not Loaded")
