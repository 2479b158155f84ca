"""Predicted training GPU memory for a freeze plan, per GPU, against the no-freeze baseline.

Public API (the TUI and the CLI code against it):
``TrainConfig`` in, ``MemoryEstimate`` (plan and baseline ``MemoryBreakdown``) out, from
``estimate_memory``; ``max_batch`` answers the largest per-run batch that fits a GPU.

torch and yolov5 are imported only inside the functions that trace (core must import fast).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.checkpoint import ModelInfo
from core.errors import UsageError, YoloFreezeError
from core.memory.analytic import OPTIMIZERS


class EstimateCancelled(YoloFreezeError):
    """The caller's ``cancelled()`` turned true while an estimate was being computed."""


@dataclass(frozen=True)
class TrainConfig:
    batch: int = 16  # total batch, as train.py's --batch-size (DDP splits it across GPUs)
    img: int = 640
    optimizer: str = "SGD"
    amp: bool = True
    gpus: int = 1

    @property
    def per_gpu_batch(self) -> int:
        return self.batch // self.gpus

    @property
    def accumulate(self) -> int:
        """train.py's gradient accumulation: changes how often the optimizer steps, not peak memory."""
        return max(round(64 / self.batch), 1)

    def validate(self) -> None:
        """Raise UsageError for options train.py would reject or that make no sense."""
        if self.batch < 1:
            raise UsageError(f"batch must be 1 or more, got {self.batch}")
        if self.gpus < 1:
            raise UsageError(f"gpus must be 1 or more, got {self.gpus}")
        if self.batch % self.gpus:
            raise UsageError(
                f"batch {self.batch} is not a multiple of --gpus {self.gpus} (DDP splits the batch evenly)"
            )
        if self.img < 32:
            raise UsageError(f"image size must be 32 or more, got {self.img}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes on one GPU during a training step; the first seven add up to ``peak_allocated``."""

    weights: int
    ema: int
    gradients: int
    optimizer: int
    amp_cache: int
    activations: int
    temporaries: int
    peak_allocated: int
    allocator_slack: int
    peak_reserved: int
    cuda_context: int
    nvidia_smi: int


@dataclass(frozen=True)
class MemoryEstimate:
    config: TrainConfig
    plan: MemoryBreakdown
    baseline: MemoryBreakdown
    accumulate: int

    @property
    def saved_bytes(self) -> int:
        return self.baseline.peak_reserved - self.plan.peak_reserved

    @property
    def saved_fraction(self) -> float:
        return self.saved_bytes / self.baseline.peak_reserved if self.baseline.peak_reserved else 0.0


def estimate_memory(
    info: ModelInfo,
    frozen: frozenset[str],
    config: TrainConfig,
    cancelled: Callable[[], bool] | None = None,
) -> MemoryEstimate:
    """Predict per-GPU memory for ``frozen`` and for no freezing; raises EstimateCancelled."""
    config.validate()
    raise NotImplementedError("traced estimate: work in progress")


def max_batch(
    info: ModelInfo,
    frozen: frozenset[str],
    config: TrainConfig,
    gpu_mem_bytes: int,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Largest total batch (a multiple of ``config.gpus``) whose per-GPU nvidia-smi figure fits; 0 if none."""
    config.validate()
    raise NotImplementedError("traced estimate: work in progress")


__all__ = [
    "EstimateCancelled",
    "MemoryBreakdown",
    "MemoryEstimate",
    "TrainConfig",
    "estimate_memory",
    "max_batch",
]
