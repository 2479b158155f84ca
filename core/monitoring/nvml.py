"""The one door to NVML (NVIDIA's nvidia-ml-py, imported as ``pynvml``).

Everything that asks the driver anything goes through ``NvmlSession``: initialised once per
session, every field read on its own so that a field the GPU does not support (NotSupported,
NoPermission, GpuIsLost, MIG's N/A utilisation) comes back as None and blanks only itself, and the
versioned process-list calls tried once here (v3, v2, v1). Without the library or a driver,
``NvmlSession()`` raises ``NvmlUnavailable`` with the reason to show.

``CUDA_VISIBLE_DEVICES`` renumbers GPUs for CUDA but not for NVML: ``visible_map`` maps NVML
indices to the numbers a training process sees.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class NvmlUnavailable(Exception):
    """No NVML here: library missing, no driver, or a broken install. The message says which."""


@dataclass(frozen=True)
class DeviceInfo:
    """What does not change while a GPU is in use; read once per session."""

    index: int  # NVML index (PCI order)
    name: str
    uuid: str
    pci_bus_id: str
    mem_total: int | None  # bytes
    power_limit: float | None  # W


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


class NvmlSession:
    """nvmlInit on creation, nvmlShutdown on close(); None for every field NVML cannot give."""

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError as e:
            raise NvmlUnavailable(f"nvidia-ml-py not installed ({e})") from None
        self.nv: Any = pynvml
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as e:  # LibraryNotFound, DriverNotLoaded, …
            raise NvmlUnavailable(str(e) or type(e).__name__) from None
        except OSError as e:  # a broken libnvidia-ml can fail at the loader level
            raise NvmlUnavailable(str(e)) from None
        self._closed = False
        count = self.get(pynvml.nvmlDeviceGetCount)
        self.handles: list[Any] = []
        for i in range(count or 0):
            h = self.get(pynvml.nvmlDeviceGetHandleByIndex, i)
            if h is not None:
                self.handles.append(h)
        self.devices: tuple[DeviceInfo, ...] = tuple(self._device(i, h) for i, h in enumerate(self.handles))

    def get(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, or None when NVML says the value is not available."""
        try:
            return fn(*args)
        except self.nv.NVMLError:
            return None

    def _device(self, i: int, h: Any) -> DeviceInfo:
        nv = self.nv
        mem = self.get(nv.nvmlDeviceGetMemoryInfo, h)
        limit = self.get(nv.nvmlDeviceGetEnforcedPowerLimit, h)
        pci = self.get(nv.nvmlDeviceGetPciInfo, h)
        return DeviceInfo(
            index=i,
            name=_text(self.get(nv.nvmlDeviceGetName, h) or f"GPU {i}"),
            uuid=_text(self.get(nv.nvmlDeviceGetUUID, h) or ""),
            pci_bus_id=_text(pci.busId) if pci is not None else "",
            mem_total=int(mem.total) if mem is not None else None,
            power_limit=limit / 1000.0 if limit is not None else None,
        )

    # -- fields that change -----------------------------------------------------------------

    def utilization(self, h: Any) -> tuple[float, float] | None:
        u = self.get(self.nv.nvmlDeviceGetUtilizationRates, h)
        return (float(u.gpu), float(u.memory)) if u is not None else None

    def memory_used(self, h: Any) -> int | None:
        m = self.get(self.nv.nvmlDeviceGetMemoryInfo, h)
        return int(m.used) if m is not None else None

    def temperature(self, h: Any) -> float | None:
        t = self.get(self.nv.nvmlDeviceGetTemperature, h, self.nv.NVML_TEMPERATURE_GPU)
        return float(t) if t is not None else None

    def power(self, h: Any) -> float | None:
        p = self.get(self.nv.nvmlDeviceGetPowerUsage, h)
        return p / 1000.0 if p is not None else None

    def sm_clock(self, h: Any) -> int | None:
        c = self.get(self.nv.nvmlDeviceGetClockInfo, h, self.nv.NVML_CLOCK_SM)
        return int(c) if c is not None else None

    def fan(self, h: Any) -> float | None:
        f = self.get(self.nv.nvmlDeviceGetFanSpeed, h)
        return float(f) if f is not None else None

    def compute_processes(self, h: Any) -> dict[int, int | None] | None:
        """pid -> bytes on this GPU (None where the driver hides it: WDDM, MIG); None if unknown."""
        nv = self.nv
        for name in (
            "nvmlDeviceGetComputeRunningProcesses_v3",
            "nvmlDeviceGetComputeRunningProcesses_v2",
            "nvmlDeviceGetComputeRunningProcesses",
        ):
            fn = getattr(nv, name, None)
            if fn is None:
                continue
            try:
                return {int(p.pid): (int(p.usedGpuMemory) if p.usedGpuMemory is not None else None) for p in fn(h)}
            except (nv.NVMLError_FunctionNotFound, AttributeError):
                continue
            except nv.NVMLError:
                return None
        return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self.nv.nvmlShutdown()

    def __enter__(self) -> NvmlSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def visible_map(cvd: str | None, devices: Sequence[tuple[int, str, str]]) -> dict[int, int]:
    """NVML index -> CUDA index under ``CUDA_VISIBLE_DEVICES`` (devices: (nvml index, uuid, pci)).

    Numbers in CUDA_VISIBLE_DEVICES are taken in PCI order (exact with CUDA_DEVICE_ORDER=PCI_BUS_ID,
    the common setting on shared boxes); UUIDs (``GPU-…``, prefixes allowed) are exact. Like CUDA,
    parsing stops at the first entry that names no device.
    """
    if cvd is None:
        return {idx: idx for idx, _, _ in devices}
    out: dict[int, int] = {}
    for entry in (e.strip() for e in cvd.split(",")):
        if not entry:
            break
        match = None
        if entry.lstrip("-").isdigit():
            n = int(entry)
            match = next((idx for idx, _, _ in devices if idx == n), None)
        else:
            match = next((idx for idx, uuid, _ in devices if uuid and uuid.startswith(entry)), None)
        if match is None or match in out:
            break
        out[match] = len(out)
    return out


def visible_devices(cvd: str | None) -> tuple[list[tuple[DeviceInfo, int]], str]:
    """(device, CUDA index) for each GPU a process started now would see, and why none when empty."""
    try:
        session = NvmlSession()
    except NvmlUnavailable as e:
        return [], f"NVML unavailable: {e}"
    with session:
        mapping = visible_map(cvd, [(d.index, d.uuid, d.pci_bus_id) for d in session.devices])
        found = [(d, mapping[d.index]) for d in session.devices if d.index in mapping]
    if not found:
        return [], "CUDA_VISIBLE_DEVICES hides every GPU" if session.devices else "NVML lists no GPU"
    return sorted(found, key=lambda x: x[1]), ""


def gpu_total_memory(index: int = 0, cvd: str | None = None) -> int | None:
    """Bytes of the GPU a training would call ``cuda:index``; None without NVML or that GPU."""
    devices, _ = visible_devices(cvd)
    return next((d.mem_total for d, cuda in devices if cuda == index), None)
