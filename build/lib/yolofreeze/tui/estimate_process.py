"""The traced memory estimate, run in a child process.

Importing torch and tracing a training step is CPU-bound Python: in a thread it holds the GIL
and the screen stops answering keys for seconds. A single spawned child keeps torch imported
between estimates; a shared generation number lets a newer request cancel the running one
(the estimator polls ``cancelled``), so the latest plan is never stuck behind a stale one.
"""

from __future__ import annotations

import multiprocessing
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


def _init_child(generation: Any) -> None:
    global _generation
    _generation = generation


def _estimate_in_child(path: str, frozen: frozenset[str], config: TrainConfig, mine: int) -> MemoryEstimate:
    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.memory.estimator import estimate_memory

    info = _infos.get(path)
    if info is None:
        info = _infos[path] = read_checkpoint(path)
    return estimate_memory(info, frozen, config, cancelled=lambda: _generation.value != mine)


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
        from yolofreeze.core.memory.estimator import EstimateCancelled

        with self._lock:
            with self._generation.get_lock():
                self._generation.value += 1
                mine = self._generation.value
            future = self._get_pool().submit(_estimate_in_child, info.path, frozen, config, mine)
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
