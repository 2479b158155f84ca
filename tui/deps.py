"""What the app needs from outside, passed in by the factory so tests can replace it.

Tests build the app with recorded GPU samples, a temporary state dir and a fake clipboard;
the real program uses the defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.monitoring.nvml import gpu_total_memory


@dataclass
class AppDeps:
    read_checkpoint: Callable[[str], ModelInfo] = read_checkpoint
    # Where run records live; None means yolofreeze.core.training.runs' default (the user state dir).
    state_dir: Path | None = None
    # Makes the GPU sampler for the monitor (yolofreeze.core.monitoring.gpu); None means the real NVML one, with the
    # CPU/RAM fallback when NVML is missing.
    gpu_sampler_factory: Callable[[], Any] | None = None
    # Starts training processes (yolofreeze.core.training.launch); None means the real launcher.
    launcher: Any = None
    # Bytes of the GPU training would use (NVML), None when none is visible; asked once, after the
    # first frame. Tests pass a fixed answer.
    gpu_memory: Callable[[], int | None] = gpu_total_memory
