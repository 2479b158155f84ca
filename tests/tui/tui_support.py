"""Helpers for the TUI tests: a hostile checkpoint, a fake traced estimator, waiting for the app."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.memory.analytic import state_bytes
from yolofreeze.core.memory.estimator import EstimateCancelled, MemoryBreakdown, MemoryEstimate, TrainConfig


def make_hostile(src: Path, dst: Path) -> Path:
    """A copy of a real zip checkpoint whose data.pkl also holds ``os.system('echo pwned')``.

    The call is spliced in before the final STOP as one more item of the top-level dict:
    key "evil", value GLOBAL os.system applied to a tuple (protocol-2 opcodes written by hand).
    """
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.endswith("/data.pkl"):
                assert data.endswith(b".")
                key = b"evil"
                arg = b"echo pwned"
                payload = (
                    b"X"
                    + struct.pack("<I", len(key))
                    + key
                    + b"cos\nsystem\n"
                    + b"(X"
                    + struct.pack("<I", len(arg))
                    + arg
                    + b"tR"
                    + b"s"
                )
                data = data[:-1] + payload + b"."
            zout.writestr(item, data)
    return dst


def _breakdown(info: ModelInfo, trainable: int, config: TrainConfig) -> MemoryBreakdown:
    s = state_bytes(info.total_params, trainable, config.optimizer, config.amp)
    activations = config.batch * config.img * config.img * 120 * (1 + trainable / max(info.total_params, 1))
    act = int(activations)
    temps = act // 10
    peak = s.total + act + temps
    reserved = int(peak * 1.1)
    return MemoryBreakdown(
        s.weights,
        s.ema,
        s.gradients,
        s.optimizer,
        s.amp_cache,
        act,
        temps,
        peak,
        reserved - peak,
        reserved,
        400 << 20,
        reserved + (400 << 20),
    )


def fake_estimator(
    calls: list[tuple[frozenset[str], TrainConfig]] | None = None,
) -> Callable[[ModelInfo, frozenset[str], TrainConfig, Callable[[], bool]], MemoryEstimate]:
    """Deterministic, torch-free stand-in with the estimator's contract (for pilots and snapshots)."""

    def estimate(
        info: ModelInfo, frozen: frozenset[str], config: TrainConfig, cancelled: Callable[[], bool]
    ) -> MemoryEstimate:
        if cancelled():
            raise EstimateCancelled("cancelled")
        if calls is not None:
            calls.append((frozen, config))
        trainable = sum(p.numel for p in info.parameters if p.name not in frozen)
        return MemoryEstimate(
            config,
            _breakdown(info, trainable, config),
            _breakdown(info, info.total_params, config),
            config.accumulate,
        )

    def max_batch(
        info: ModelInfo, frozen: frozenset[str], config: TrainConfig, gpu_bytes: int, cancelled: Callable[[], bool]
    ) -> int:
        """The estimator's second answer, from the same fake figures: the largest batch that fits."""
        trainable = sum(p.numel for p in info.parameters if p.name not in frozen)

        def fits(b: int) -> bool:
            return _breakdown(info, trainable, replace(config, batch=b)).nvidia_smi <= gpu_bytes

        best = 0
        while best < 4096 and fits(best + 1):
            best += 1
        return best

    estimate.max_batch = max_batch  # type: ignore[attr-defined]
    return estimate


async def settle(pilot: Pilot[int]) -> None:
    """Let workers finish and the screen redraw."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for(pilot: Pilot[int], cond: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Let the app run until ``cond()`` holds, without waiting for workers (some block on purpose)."""
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)
    await pilot.pause()


async def wait_until(pilot: Pilot[int], cond: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Let the app run until ``cond()`` holds (a loaded CI machine is slow; a guessed pause flakes),
    then until its workers are done and the screen is redrawn."""
    await wait_for(pilot, cond, what, timeout)
    await settle(pilot)
