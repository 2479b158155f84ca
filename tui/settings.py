"""The training settings the main screen estimates for: batch, image size, optimizer, GPU memory.

Defaults, limits and the optimizer list come from yolofreeze.core.training.options (their one home);
this object only holds what the user typed or the screen found. Frozen: every change is a new value,
so an estimate stamped with one can be compared with the current one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from yolofreeze.core.training.options import DEFAULTS, MAX_BATCH, OPTIMIZERS

ASSUMED_GPU_GIB = 24.0  # a common card; said as "assumed" until NVML or the user tells otherwise
MAX_GPU_GIB = 4096.0


def _next(choices: tuple[str, ...], current: str) -> str:
    i = choices.index(current) if current in choices else -1
    return choices[(i + 1) % len(choices)]


def gib_text(gib: float) -> str:
    """``24``, ``79.6``: whole numbers without a decimal."""
    return f"{gib:.0f}" if abs(gib - round(gib)) < 0.05 else f"{gib:.1f}"


def parse_gib(text: str) -> float | str:
    """A typed GPU size in GiB (``80``, ``141``, ``79.6 GiB``), or why it is not one."""
    body = text.strip().lower().removesuffix("gib").removesuffix("gb").strip()
    try:
        gib = float(body)
    except ValueError:
        return "a size in GiB, e.g. 24, 80 or 141"
    if not 0 < gib <= MAX_GPU_GIB:  # also refuses nan and inf
        return f"a GPU size must be more than 0 and at most {MAX_GPU_GIB:.0f} GiB"
    return gib


@dataclass(frozen=True)
class Settings:
    batch: int = DEFAULTS.batch
    img: int = DEFAULTS.img
    optimizer: str = DEFAULTS.optimizer
    gpu_gib: float = ASSUMED_GPU_GIB  # the GPU the fit check compares with; changing it needs no new estimate
    gpu_source: str = "assumed"  # "assumed", "nvml" (the visible GPU) or "typed"

    @property
    def gpu_bytes(self) -> int:
        return int(self.gpu_gib * (1 << 30))

    @property
    def gpu_assumed(self) -> bool:
        return self.gpu_source == "assumed"

    def scaled_batch(self, factor: float) -> Settings:
        return replace(self, batch=max(1, min(MAX_BATCH, int(self.batch * factor))))

    def next_optimizer(self) -> Settings:
        return replace(self, optimizer=_next(OPTIMIZERS, self.optimizer))

    def with_gpu(self, gib: float, source: str) -> Settings:
        return replace(self, gpu_gib=gib, gpu_source=source)

    def traced_part(self) -> tuple[int, int, str]:
        """What the traced estimate depends on (the GPU size does not change it)."""
        return (self.batch, self.img, self.optimizer)
