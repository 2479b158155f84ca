"""estimate_memory / max_batch: what the TUI and the CLI show, from one traced yolov5n step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.errors import UsageError
from yolofreeze.core.memory.estimator import (
    CUDA_CONTEXT_BYTES,
    EstimateCancelled,
    EstimateUnavailable,
    TrainConfig,
    estimate_memory,
    max_batch,
)
from yolofreeze.core.plan.freeze import preset

ROOT = Path(__file__).resolve().parents[2]


def blocks(nbytes: int) -> int:
    """What the CUDA caching allocator hands out for ``nbytes``: 512-byte blocks."""
    return -(-nbytes // 512) * 512


def test_parts_add_up_and_freezing_the_backbone_costs_less(yolov5n: Path) -> None:
    info = read_checkpoint(str(yolov5n))
    plan = preset(info, "backbone")
    est = estimate_memory(info, plan.frozen, TrainConfig(batch=16, img=640))
    for b in (est.plan, est.baseline):
        # the bar the TUI draws: the replay tallies each kind apart from the total, and they must meet
        parts = b.weights + b.ema + b.gradients + b.optimizer + b.amp_cache + b.activations + b.temporaries
        assert parts == b.peak_allocated
        assert b.allocator_slack >= 0
    # Counted independently, from the file's own tensor list: train.py trains in fp32, so the model
    # and its EMA each hold an fp32 copy of every parameter and float buffer (int64 counters stay
    # int64), and SGD keeps one fp32 momentum buffer per parameter that trains.
    model_bytes = sum(blocks(4 * t.numel) for t in info.parameters) + sum(
        blocks((8 if t.dtype == "int64" else 4) * t.numel) for t in info.buffers
    )
    assert est.plan.weights == est.plan.ema == est.baseline.weights == model_bytes
    trainable = [t for t in info.parameters if t.name not in plan.frozen]
    assert est.plan.optimizer == sum(blocks(4 * t.numel) for t in trainable)
    assert est.baseline.optimizer == sum(blocks(4 * t.numel) for t in info.parameters)
    assert est.plan.activations < est.baseline.activations
    assert 0 < est.saved_bytes < est.baseline.peak_reserved
    assert est.accumulate == 4  # round(64 / 16)


def test_a_bigger_batch_needs_more_memory_and_reestimates_reuse_the_trace(yolov5n: Path) -> None:
    info = read_checkpoint(str(yolov5n))
    frozen = preset(info, "backbone").frozen
    small = estimate_memory(info, frozen, TrainConfig(batch=8, img=320))
    big = estimate_memory(info, frozen, TrainConfig(batch=32, img=640))
    assert big.plan.activations > 10 * small.plan.activations  # 16x the pixels
    assert big.plan.weights == small.plan.weights


def test_max_batch_fits_and_one_more_does_not(yolov5n: Path) -> None:
    info = read_checkpoint(str(yolov5n))
    frozen = preset(info, "backbone").frozen
    config = TrainConfig(batch=16, img=640)
    gpu = 4 << 30
    best = max_batch(info, frozen, config, gpu)
    assert best > 16
    fits = estimate_memory(info, frozen, TrainConfig(batch=best, img=640))
    over = estimate_memory(info, frozen, TrainConfig(batch=best + 1, img=640))
    assert fits.run_nvidia_smi <= gpu < over.run_nvidia_smi  # the whole run must fit
    assert max_batch(info, frozen, config, CUDA_CONTEXT_BYTES) == 0  # nothing fits in the context alone


def test_ddp_splits_the_batch_and_adds_gradient_buckets(yolov5n: Path) -> None:
    info = read_checkpoint(str(yolov5n))
    frozen = preset(info, "backbone").frozen
    one = estimate_memory(info, frozen, TrainConfig(batch=16, img=320))
    two = estimate_memory(info, frozen, TrainConfig(batch=32, img=320, gpus=2))
    assert two.config.per_gpu_batch == 16
    trainable_bytes = 4 * preset(info, "backbone").counts.trainable_params
    buckets = two.plan.gradients - one.plan.gradients  # DDP's copies of every trainable gradient
    assert trainable_bytes <= buckets <= trainable_bytes + 512 * 8
    assert two.plan.peak_allocated > one.plan.peak_allocated
    assert max_batch(info, frozen, TrainConfig(batch=32, img=320, gpus=2), 4 << 30) % 2 == 0


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (TrainConfig(batch=15, gpus=2), "batch 15 is not a multiple of 2 GPUs"),
        (TrainConfig(batch=0), "batch must be 1-4096, got 0"),
        (TrainConfig(optimizer="Lion"), "unknown optimizer 'Lion'"),
        (TrainConfig(gpus=0), "GPUs must be 1-64, got 0"),
    ],
)
def test_bad_options_are_usage_errors(yolov5n: Path, config: TrainConfig, words: str) -> None:
    info = read_checkpoint(str(yolov5n))
    with pytest.raises(UsageError, match=words):
        estimate_memory(info, frozenset(), config)


def test_cancelling_stops_the_trace(yolov5n: Path) -> None:
    info = read_checkpoint(str(yolov5n))
    frozen = preset(info, "first:3").frozen  # a plan no other test traced: not cached
    with pytest.raises(EstimateCancelled):
        estimate_memory(info, frozen, TrainConfig(optimizer="AdamW"), cancelled=lambda: True)


def test_a_checkpoint_without_yaml_is_a_clear_error(ckpt_dir: Path) -> None:
    info = read_checkpoint(str(ckpt_dir / "yolov5n-state_dict.pt"))
    assert info.yaml is None
    with pytest.raises(EstimateUnavailable, match="YAML"):
        estimate_memory(info, frozenset(), TrainConfig())


def test_importing_the_estimator_does_not_import_torch() -> None:
    code = "import sys, yolofreeze.core.memory.estimator; print('torch' in sys.modules, 'textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False", "False"]
