"""When the traced estimate runs, and which answer is still worth showing.

A request waits out a short debounce (a burst of key presses makes one estimate), then runs the
estimator in a thread worker; starting a newer one cancels the older (the estimator polls
``cancelled``). Every request gets a generation number and every answer carries it: the screen
shows an answer only while its generation is the latest, because a cancelled estimator may still
answer late — one busy building a model cannot stop at once, and its "unavailable" or its figure
belongs to a plan the user has already left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.worker import Worker, WorkerState, get_current_worker

from yolofreeze.core.errors import YoloFreezeError
from yolofreeze.core.memory.estimator import EstimateCancelled, TrainConfig
from yolofreeze.tui.messages import EstimateReady, EstimateUnavailable, MaxBatchReady

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.widget import Widget

    from yolofreeze.core.checkpoint.reader import ModelInfo
    from yolofreeze.core.memory.estimator import MemoryEstimate

Estimator = Callable[["ModelInfo", frozenset[str], TrainConfig, Callable[[], bool]], "MemoryEstimate"]
# An estimator may also answer "the largest batch that fits N bytes" as ``estimator.max_batch``.
MaxBatch = Callable[["ModelInfo", frozenset[str], TrainConfig, int, Callable[[], bool]], int]


class EstimateScheduler:
    """Debounced estimates for one checkpoint; answers are posted to ``owner`` as messages."""

    def __init__(self, owner: Widget, info: ModelInfo, estimator: Estimator, delay: float) -> None:
        self.owner = owner
        self.info = info
        self.estimator = estimator
        self.max_batch: MaxBatch | None = getattr(estimator, "max_batch", None)
        self.delay = delay  # seconds of debounce; negative: estimates are switched off
        self.generation = 0
        self._started = 0  # the newest generation whose worker has started
        self._timer: Timer | None = None
        self._worker: Worker[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.delay >= 0

    def is_current(self, generation: int) -> bool:
        return generation == self.generation

    @property
    def busy(self) -> bool:
        """The latest request is waiting out its debounce or running (not cancelled by anyone)."""
        if self._started < self.generation:
            return True
        return self._worker is not None and self._worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    def request(self, frozen: frozenset[str], config: TrainConfig, gpu_bytes: int | None = None) -> int:
        """Estimate ``frozen`` under ``config`` after the debounce; every earlier answer is stale.
        With ``gpu_bytes`` (and an estimator that can), the largest batch that fits follows it."""
        self.generation += 1
        if self._timer is not None:
            self._timer.stop()
        start = partial(self._start, self.generation, frozen, config, gpu_bytes)
        self._timer = self.owner.set_timer(max(self.delay, 0.01), start)
        return self.generation

    def _start(self, generation: int, frozen: frozenset[str], config: TrainConfig, gpu_bytes: int | None) -> None:
        if not self.is_current(generation):
            return
        self._started = generation
        # An app-level worker: the app's one Worker.StateChanged handler reports every failure.
        self._worker = self.owner.app.run_worker(
            partial(self._run, generation, frozen, config, gpu_bytes),
            thread=True,
            exclusive=True,
            group="estimate",
            exit_on_error=False,
            description="memory estimate",
        )

    def _run(self, generation: int, frozen: frozenset[str], config: TrainConfig, gpu_bytes: int | None) -> None:
        worker = get_current_worker()
        started = time.perf_counter()
        try:
            result = self.estimator(self.info, frozen, config, lambda: worker.is_cancelled)
        except EstimateCancelled:
            return
        except YoloFreezeError as e:
            self.owner.post_message(EstimateUnavailable(generation, frozen, e.message))
            return
        except Exception as e:
            # a bug: the screen says the figure is missing, the worker fails loudly (and is reported)
            self.owner.post_message(EstimateUnavailable(generation, frozen, f"estimator error: {e!r}"))
            raise
        self.owner.post_message(EstimateReady(generation, frozen, config, result, time.perf_counter() - started))
        if gpu_bytes is None or self.max_batch is None or worker.is_cancelled:
            return
        try:  # the trace is cached by now: only replays, a fraction of the estimate's time
            most = self.max_batch(self.info, frozen, config, gpu_bytes, lambda: worker.is_cancelled)
        except (EstimateCancelled, YoloFreezeError):
            return  # the estimate above already said what there is to say
        self.owner.post_message(MaxBatchReady(generation, gpu_bytes, most))
