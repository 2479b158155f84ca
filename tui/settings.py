"""The training settings the main screen estimates for: batch, image size, optimizer, GPU memory.

Defaults and the optimizer list come from yolofreeze.core.training.options (their one home); this
object only adds the steps the screen's keys cycle through. Frozen: every change is a new value,
so an estimate stamped with one can be compared with the current one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from yolofreeze.core.training.options import DEFAULTS, MAX_BATCH, OPTIMIZERS

GPU_GIB = (8, 12, 16, 24, 40, 48, 80)
IMG_SIZES = (320, 416, 512, 640, 960, 1280)


def _next(choices: tuple[int, ...] | tuple[str, ...], current: object) -> int | str:
    i = choices.index(current) if current in choices else -1
    return choices[(i + 1) % len(choices)]


@dataclass(frozen=True)
class Settings:
    batch: int = DEFAULTS.batch
    img: int = DEFAULTS.img
    optimizer: str = DEFAULTS.optimizer
    gpu_gib: int = 24  # the GPU the fit check compares with; changing it needs no new estimate

    def scaled_batch(self, factor: float) -> Settings:
        return replace(self, batch=max(1, min(MAX_BATCH, int(self.batch * factor))))

    def next_img(self) -> Settings:
        return replace(self, img=int(_next(IMG_SIZES, self.img)))

    def next_optimizer(self) -> Settings:
        return replace(self, optimizer=str(_next(OPTIMIZERS, self.optimizer)))

    def next_gpu(self) -> Settings:
        return replace(self, gpu_gib=int(_next(GPU_GIB, self.gpu_gib)))

    def traced_part(self) -> tuple[int, int, str]:
        """What the traced estimate depends on (the GPU size does not change it)."""
        return (self.batch, self.img, self.optimizer)
