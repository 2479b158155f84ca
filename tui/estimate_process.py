"""The traced memory estimate, run in a child process.

Importing torch and tracing a training step is CPU-bound Python: in a thread it holds the GIL
and the screen stops answering keys for seconds. A single spawned child keeps torch imported
between estimates; a shared generation number lets a newer request cancel the running one
(the estimator polls ``cancelled``), so the latest plan is never stuck behind a stale one.

The child never writes to the user's terminal (Textual owns it; stray output would corrupt the
screen): its stdout and stderr, file descriptors included, go to ``estimate-child.log`` in the cache
dir, and yolov5/ultralytics are imported quietly (yolofreeze.core.thirdparty).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yolofreeze.core.checkpoint.reader import ModelInfo
    from yolofreeze.core.memory.estimator import MemoryEstimate, TrainConfig

_generation: Any = None  # the child's view of the shared counter
_infos: dict[str, ModelInfo] = {}


LOG_NAME = "estimate-child.log"
LOG_LIMIT = 1 << 20  # one estimate session's warnings are a few KiB; start afresh past this


def child_log_path() -> Any:
    from yolofreeze.core.paths import cache_dir

    return cache_dir() / LOG_NAME


def _redirect_output() -> None:
    """fds 1 and 2 (C code, subprocesses) and sys.stdout/sys.stderr all into the log."""
    path = child_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fresh = path.stat().st_size > LOG_LIMIT
    except OSError:
        fresh = True
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if fresh else 0), 0o644)
    for target in (1, 2):
        os.dup2(fd, target)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    print(f"estimate child {os.getpid()} started", file=sys.stderr)


def _init_child(generation: Any) -> None:
    global _generation
    _redirect_output()
    from yolofreeze.core.thirdparty import quiet_env

    quiet_env()
    _generation = generation


def _estimate_in_child(path: str, frozen: frozenset[str], config: TrainConfig, mine: int) -> MemoryEstimate:
    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.memory.estimator import estimate_memory

    info = _infos.get(path)
    if info is None:
        info = _infos[path] = read_checkpoint(path)
    return estimate_memory(info, frozen, config, cancelled=lambda: _generation.value != mine)


def _max_batch_in_child(path: str, frozen: frozenset[str], config: TrainConfig, gpu_bytes: int, mine: int) -> int:
    """The largest batch that fits ``gpu_bytes``: replays of the trace the estimate just cached."""
    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.memory.estimator import max_batch

    info = _infos.get(path)
    if info is None:
        info = _infos[path] = read_checkpoint(path)
    return max_batch(info, frozen, config, gpu_bytes, cancelled=lambda: _generation.value != mine)


class ProcessEstimator:
    """Callable with the estimator's signature; blocks its (worker) thread, not the GIL."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded Textual process
        self._generation = self._ctx.Value("q", 0)

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=self._ctx, initializer=_init_child, initargs=(self._generation,)
            )
        return self._pool

    def __call__(
        self, info: ModelInfo, frozen: frozenset[str], config: TrainConfig, cancelled: Callable[[], bool]
    ) -> MemoryEstimate:
        result: MemoryEstimate = self._in_child(_estimate_in_child, cancelled, info.path, frozen, config)
        return result

    def max_batch(
        self,
        info: ModelInfo,
        frozen: frozenset[str],
        config: TrainConfig,
        gpu_bytes: int,
        cancelled: Callable[[], bool],
    ) -> int:
        """The second request type: the largest batch for ``gpu_bytes`` (0 when batch 1 does not fit)."""
        result: int = self._in_child(_max_batch_in_child, cancelled, info.path, frozen, config, gpu_bytes)
        return result

    def _in_child(self, fn: Callable[..., Any], cancelled: Callable[[], bool], *args: Any) -> Any:
        """Run ``fn(*args, generation)`` in the child; a newer request (of either type) cancels it."""
        from yolofreeze.core.memory.estimator import EstimateCancelled

        with self._lock:
            with self._generation.get_lock():
                self._generation.value += 1
                mine = self._generation.value
            future = self._get_pool().submit(fn, *args, mine)
        while True:
            try:
                return future.result(timeout=0.05)
            except FutureTimeout:
                if cancelled():
                    future.cancel()
                    raise EstimateCancelled("a newer estimate was asked for") from None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.kill()  # an estimate in flight is of no use once the app is gone
            pool.shutdown(wait=False, cancel_futures=True)
