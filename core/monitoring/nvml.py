"""Total memory of the local GPU, from NVML, when there is one."""

from __future__ import annotations

import contextlib


def gpu_total_memory(index: int = 0) -> int | None:
    """Bytes of GPU ``index`` per NVML, or None without nvidia-ml-py, a driver or that GPU."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound / DriverNotLoaded: no GPU on this machine
        return None
    try:
        if index >= pynvml.nvmlDeviceGetCount():
            return None
        return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index)).total)
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
