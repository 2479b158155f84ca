"""GPU and process sampling for the monitor: NVML when there is a driver, psutil always.

``GpuSampler`` is the one boundary tests fake: ``NvmlSampler`` (nvidia-ml-py, module ``pynvml``),
``ProcessSampler`` (psutil only: CPU boxes, containers without the NVML library) and
``RecordedSampler`` (replays samples). ``SamplerThread`` polls one in the background and keeps
only the newest sample, so a slow NVML call never blocks the UI.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from yolofreeze.core.monitoring.nvml import NvmlSession, NvmlUnavailable, visible_devices, visible_map


@dataclass(frozen=True)
class GpuReading:
    """One GPU. None means N/A: the GPU or driver does not report that field."""

    index: int  # NVML index (PCI order)
    name: str
    uuid: str = ""
    pci_bus_id: str = ""
    cuda_index: int | None = None  # the number the training process uses, under its CUDA_VISIBLE_DEVICES
    util_gpu: float | None = None  # %
    util_mem: float | None = None  # %
    mem_used: int | None = None  # bytes, NVML "used": every process + CUDA contexts
    mem_total: int | None = None
    temperature: float | None = None  # °C
    power: float | None = None  # W
    power_limit: float | None = None  # W
    sm_clock: int | None = None  # MHz
    fan: float | None = None  # %
    run_mem: int | None = None  # bytes used on this GPU by the run's own processes


@dataclass(frozen=True)
class ProcessReading:
    """The training's own processes (supervisor, trainer, DDP ranks, dataloader workers)."""

    pids: tuple[int, ...] = ()
    cpu_percent: float | None = None  # summed; 100 = one core busy
    rss: int | None = None  # bytes, summed
    ram_used: int | None = None  # system
    ram_total: int | None = None
    gpu_mem: int | None = None  # bytes on all GPUs, from NVML's per-process list
    note: str = ""  # e.g. why PIDs could not be matched


@dataclass(frozen=True)
class GpuSample:
    time: float
    source: str  # "nvml", "psutil", "recorded"
    gpus: tuple[GpuReading, ...] = ()
    processes: ProcessReading = field(default_factory=ProcessReading)
    note: str = ""  # said once by the UI: "NVML unavailable: …"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> GpuSample:
        gpus = tuple(GpuReading(**g) for g in d.get("gpus", ()))
        proc = d.get("processes") or {}
        proc["pids"] = tuple(proc.get("pids", ()))
        return GpuSample(
            float(d["time"]),
            str(d.get("source", "recorded")),
            gpus,
            ProcessReading(**proc),
            str(d.get("note", "")),
        )


class GpuSampler(Protocol):
    def sample(self, pids: Sequence[int]) -> GpuSample: ...

    def close(self) -> None: ...


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (the run: supervisor → trainer → ranks → workers)."""
    import psutil

    try:
        p = psutil.Process(pid)
        return [pid] + [c.pid for c in p.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


class ProcessSampler:
    """CPU and RAM of the training processes; the fallback when NVML is missing."""

    def __init__(self, note: str = "") -> None:
        self.note = note
        self._procs: dict[int, Any] = {}

    def _processes(self, pids: Sequence[int]) -> ProcessReading:
        import psutil

        cpu = 0.0
        rss = 0
        alive = []
        for pid in pids:
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    # cpu_percent needs two calls; the first one of a new process reads 0
                    proc = self._procs[pid] = psutil.Process(pid)
                    proc.cpu_percent(None)
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                alive.append(pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                self._procs.pop(pid, None)
        for gone in set(self._procs) - set(pids):
            self._procs.pop(gone, None)
        vm = psutil.virtual_memory()
        return ProcessReading(tuple(alive), cpu if alive else None, rss if alive else None, vm.used, vm.total)

    def sample(self, pids: Sequence[int]) -> GpuSample:
        return GpuSample(time.time(), "psutil", (), self._processes(pids), self.note)

    def close(self) -> None:
        self._procs.clear()


class NvmlSampler(ProcessSampler):
    """Per-GPU fields from NVML (through the one NVML gateway), each N/A on its own."""

    def __init__(self, cvd: str | None = None, run_uuids: Sequence[str] = ()) -> None:
        super().__init__()
        self.nvml = NvmlSession()  # raises NvmlUnavailable with the reason
        devices = self.nvml.devices
        mapping = visible_map(cvd, [(d.index, d.uuid, d.pci_bus_id) for d in devices])
        if run_uuids:  # the runner told us exactly which GPUs torch used
            mapping = {d.index: list(run_uuids).index(d.uuid) for d in devices if d.uuid in run_uuids}
        # Static fields are read once per session: name, uuid, PCI id, total memory, power limit.
        self._static = [
            GpuReading(
                d.index,
                d.name,
                d.uuid,
                d.pci_bus_id,
                cuda_index=mapping.get(d.index),
                mem_total=d.mem_total,
                power_limit=d.power_limit,
            )
            for d in devices
        ]

    def sample(self, pids: Sequence[int]) -> GpuSample:
        nv = self.nvml
        wanted = set(pids)
        gpus = []
        run_total: int | None = None
        seen_any = False
        for static, h in zip(self._static, nv.handles, strict=True):
            util = nv.utilization(h)
            procs = nv.compute_processes(h)
            run_mem = None
            if procs is not None:
                seen_any = seen_any or bool(procs)
                mine = [m for pid, m in procs.items() if pid in wanted]
                if mine:
                    run_mem = sum(m or 0 for m in mine)
                    run_total = (run_total or 0) + run_mem
            gpus.append(
                replace(
                    static,
                    util_gpu=util[0] if util is not None else None,
                    util_mem=util[1] if util is not None else None,
                    mem_used=nv.memory_used(h),
                    temperature=nv.temperature(h),
                    power=nv.power(h),
                    sm_clock=nv.sm_clock(h),
                    fan=nv.fan(h),
                    run_mem=run_mem,
                )
            )
        proc = self._processes(pids)
        note = ""
        if wanted and run_total is None and seen_any:
            # Inside containers NVML lists host PIDs: say so instead of showing an empty number.
            note = "NVML lists GPU processes, but none with this run's PIDs (container PID namespace?)"
        return GpuSample(time.time(), "nvml", tuple(gpus), replace(proc, gpu_mem=run_total, note=note))

    def close(self) -> None:
        super().close()
        self.nvml.close()


def default_sampler(cvd: str | None = None, run_uuids: Sequence[str] = ()) -> GpuSampler:
    """NVML if it works, else the psutil sampler with a note saying why (shown once)."""
    try:
        return NvmlSampler(cvd, run_uuids)
    except NvmlUnavailable as e:
        return ProcessSampler(note=f"NVML unavailable: {e}")


class RecordedSampler:
    """Replays samples in order (holding the last), re-stamped with the current time."""

    def __init__(self, samples: Sequence[GpuSample], loop: bool = False) -> None:
        if not samples:
            raise ValueError("RecordedSampler needs at least one sample")
        self.samples = list(samples)
        self.loop = loop
        self.i = 0

    @staticmethod
    def from_jsonl(path: str | os.PathLike[str], loop: bool = False) -> RecordedSampler:
        with open(path, encoding="utf-8") as f:
            return RecordedSampler([GpuSample.from_json(json.loads(x)) for x in f if x.strip()], loop)

    def sample(self, pids: Sequence[int]) -> GpuSample:
        s = self.samples[min(self.i, len(self.samples) - 1)]
        self.i = (self.i + 1) % len(self.samples) if self.loop else self.i + 1
        return replace(s, time=time.time(), source="recorded" if s.source == "recorded" else s.source)

    def close(self) -> None:
        pass


def save_jsonl(samples: Sequence[GpuSample], path: Path) -> None:
    path.write_text("".join(json.dumps(s.to_json()) + "\n" for s in samples), encoding="utf-8")


def _box_pids() -> list[int] | None:
    try:
        import psutil

        return [int(p) for p in psutil.pids()]
    except Exception:  # no psutil or no /proc: treat as changed
        return None


class SamplerThread:
    """Polls a sampler every ``interval`` s in a daemon thread; ``latest`` is the newest sample.

    ``on_sample`` is called from the thread (the TUI posts a message from it); a sampler error is
    kept in ``error`` and sampling stops, the UI says so rather than crashing.

    ``pids`` (the run's process tree) is asked again at once when one of its processes is gone,
    and otherwise at most every ``pids_every`` seconds, only if some process on the box started
    or ended since (a tree cannot change otherwise), and at least every ``10 * pids_every`` s:
    walking the tree reads every process on the box (psutil's children() scans /proc), most of
    the sampler's CPU when done twice a second; listing the box's PIDs costs 1/40 of that.
    """

    def __init__(
        self,
        sampler: GpuSampler,
        pids: Callable[[], Sequence[int]],
        interval: float = 0.5,
        on_sample: Callable[[GpuSample], None] | None = None,
        pids_every: float = 2.0,
    ) -> None:
        self.sampler = sampler
        self.pids = pids
        self.pids_every = pids_every
        self._pids: list[int] | None = None
        self._pids_at = 0.0
        self._box: list[int] | None = None  # every PID on the box at the last look
        self._box_at = 0.0
        self.interval = max(0.25, interval)  # NVML itself is slow to update faster than this
        self.on_sample = on_sample
        self.latest: GpuSample | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)

    def start(self) -> SamplerThread:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                if self._tree_may_have_changed(t0):
                    self._pids, self._pids_at = list(self.pids()), t0
                pids = self._pids if self._pids is not None else []
                s = self.sampler.sample(pids)
            except Exception as e:  # a driver error mid-run must not take the monitor down
                self.error = f"sampling stopped: {type(e).__name__}: {e}"
                return
            if len(s.processes.pids) < len(pids):
                self._pids = None  # a process exited: the tree changed, walk it again next time
            self.latest = s
            if self.on_sample is not None:
                self.on_sample(s)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def _tree_may_have_changed(self, now: float) -> bool:
        if self._pids is None:
            self._box, self._box_at = _box_pids(), now
            return True
        if now - self._box_at < self.pids_every:
            return False
        box, self._box_at = _box_pids(), now
        changed = box is None or box != self._box or now - self._pids_at >= 10 * self.pids_every
        self._box = box
        return changed

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)
        self.sampler.close()


def cuda_device_count() -> tuple[int, str]:
    """GPUs a training launched now could use, and a reason when there are none.

    NVML answers without importing torch (seconds saved on every launch); CUDA_VISIBLE_DEVICES
    narrows it the way CUDA would.
    """
    devices, why = visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
    return len(devices), why
