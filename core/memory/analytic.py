"""The instant part of the memory picture: bytes that follow from parameter counts alone.

fp32 master weights and an fp32 EMA copy for every parameter; gradients, optimizer state and
autocast's fp16 weight cache only for trainable ones (autocast caches only leaf tensors that
require grad; SGD/Adam keep no state for parameters whose grad stays None).
"""

from __future__ import annotations

from dataclasses import dataclass

from yolofreeze.core.training import options

# bytes of optimizer state per trainable parameter: SGD's momentum, Adam's two moments
_STATE_PER_PARAM = {"SGD": 4, "Adam": 8, "AdamW": 8}


@dataclass(frozen=True)
class StateBytes:
    weights: int
    ema: int
    gradients: int
    optimizer: int
    amp_cache: int

    @property
    def total(self) -> int:
        return self.weights + self.ema + self.gradients + self.optimizer + self.amp_cache

    @property
    def weights_grads_optimizer(self) -> int:
        return self.weights + self.gradients + self.optimizer


def state_bytes(
    total_params: int,
    trainable_params: int,
    optimizer: str = options.DEFAULTS.optimizer,
    amp: bool = options.DEFAULTS.amp,
) -> StateBytes:
    if why := options.check_optimizer(optimizer):
        raise ValueError(why)
    return StateBytes(
        weights=4 * total_params,
        ema=4 * total_params,
        gradients=4 * trainable_params,
        optimizer=_STATE_PER_PARAM[optimizer] * trainable_params,
        amp_cache=2 * trainable_params if amp else 0,
    )
