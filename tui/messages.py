"""Past-tense events between workers, widgets and screens; small dataclasses, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from yolofreeze.core.checkpoint.reader import ModelInfo
    from yolofreeze.core.memory.estimator import MemoryEstimate, TrainConfig
    from yolofreeze.core.plan.freeze import FreezePlan


@dataclass
class CheckpointLoaded(Message):
    """The safe reader finished; ``plan`` is the plan to start from (``--plan`` or none)."""

    info: ModelInfo
    plan: FreezePlan
    notes: tuple[str, ...] = ()  # plan-file warnings or errors to show once the screen is up


@dataclass
class CheckpointFailed(Message):
    """The file is missing, broken or not a checkpoint."""

    path: str
    message: str


@dataclass
class EstimateReady(Message):
    """A traced memory estimate finished for ``frozen`` under ``config``; ``generation`` is the
    request it answers (yolofreeze.tui.estimate_scheduler): an older one is stale."""

    generation: int
    frozen: frozenset[str]
    config: TrainConfig
    estimate: MemoryEstimate
    seconds: float


@dataclass
class EstimateUnavailable(Message):
    """The traced estimate cannot be made for request ``generation`` (bad settings, model not
    traceable, an estimator bug)."""

    generation: int
    frozen: frozenset[str]
    reason: str


@dataclass
class MaxBatchReady(Message):
    """The largest batch that fits ``gpu_bytes`` for request ``generation`` (0: not even batch 1)."""

    generation: int
    gpu_bytes: int
    max_batch: int
