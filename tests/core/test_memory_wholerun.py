"""The whole run's memory: epoch 0's steps, the validation pass train.py runs, training after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.memory.allocator import replay_phases
from yolofreeze.core.memory.estimator import (
    CUDA_CONTEXT_BYTES,
    PHASE_AFTER_VALIDATION,
    PHASE_VALIDATION,
    TrainConfig,
    estimate_memory,
    max_batch,
)
from yolofreeze.core.plan.freeze import preset
from yolofreeze.tui.cli import main

MIB = 1 << 20


@pytest.mark.parametrize("plan", ["none", "backbone", "all"])
def test_the_whole_run_needs_more_than_the_first_epochs_steps(yolov5n: Path, plan: str) -> None:
    info = read_checkpoint(str(yolov5n))
    frozen = frozenset() if plan == "none" else preset(info, plan).frozen
    for config in (
        TrainConfig(batch=16, img=640),
        TrainConfig(batch=64, img=320),
        TrainConfig(batch=32, img=320, gpus=2),
    ):
        est = estimate_memory(info, frozen, config)
        step, run = est.plan, est.plan_run
        assert run is not None
        # validation runs 2x the batch on images padded to 672 px: more than a training step's blocks
        assert run.peak_reserved > step.peak_reserved, (plan, config)
        assert run.peak_allocated >= step.peak_allocated
        assert run.nvidia_smi == run.peak_reserved + CUDA_CONTEXT_BYTES == est.run_nvidia_smi
        assert run.phase in (PHASE_VALIDATION, PHASE_AFTER_VALIDATION)


def test_with_only_detect_trainable_validation_is_the_peak(yolov5s: Path) -> None:
    info = read_checkpoint(str(yolov5s))
    est = estimate_memory(info, preset(info, "all").frozen, TrainConfig(batch=16, img=640))
    run, base_run = est.plan_run, est.baseline_run
    assert run is not None and base_run is not None
    assert run.phase == PHASE_VALIDATION
    # the training step saves almost nothing; inference at batch 32 holds more at once
    assert run.peak_allocated > 1.5 * est.plan.peak_allocated
    # with nothing frozen the step's saved activations dwarf validation: its allocated peak is the step's
    assert base_run.peak_allocated < 1.01 * est.baseline.peak_allocated
    assert base_run.peak_reserved > est.baseline.peak_reserved  # but validation's block sizes still cost segments


def test_gradients_are_counted_while_micro_batches_accumulate(yolov5n: Path) -> None:
    info = read_checkpoint(str(yolov5n))
    detect_only = preset(info, "all")
    trainable = {p.name: p.numel for p in info.parameters if p.name not in detect_only.frozen}
    accumulating = estimate_memory(info, detect_only.frozen, TrainConfig(batch=16, img=320))
    assert accumulating.accumulate == 4
    # every trainable gradient is alive during the second micro-batch (fp32, 512-byte blocks)
    assert (
        4 * sum(trainable.values()) <= accumulating.plan.gradients <= 4 * sum(trainable.values()) + 512 * len(trainable)
    )
    assert accumulating.baseline.gradients >= 4 * info.total_params > accumulating.plan.gradients
    # accumulate 1: zero_grad frees them after every step, before the next forward
    stepping = estimate_memory(info, detect_only.frozen, TrainConfig(batch=64, img=320))
    assert stepping.accumulate == 1
    assert stepping.plan.gradients == stepping.baseline.gradients == 0


def test_the_largest_batch_is_the_one_whose_whole_run_fits(yolov5n: Path) -> None:
    info = read_checkpoint(str(yolov5n))
    frozen = preset(info, "all").frozen
    gpu = 2 << 30
    best = max_batch(info, frozen, TrainConfig(batch=16, img=640), gpu)
    at_best = estimate_memory(info, frozen, TrainConfig(batch=best, img=640))
    one_more = estimate_memory(info, frozen, TrainConfig(batch=best + 1, img=640))
    assert at_best.run_nvidia_smi <= gpu < one_more.run_nvidia_smi
    assert one_more.plan.nvidia_smi < gpu  # epoch 0 alone would have "fitted" the batch that fails later


def test_blocks_one_phase_caches_are_what_the_next_allocates_from() -> None:
    # a 30 MiB tensor, then a 50 MiB one: the 30 MiB segment cannot hold the second -> 80 MiB reserved
    sizes = [30 * MIB, 50 * MIB]
    grown = replay_phases([[1, -1], [2, -2]], sizes)
    assert [p.reserved for p in grown] == [30 * MIB, 80 * MIB]
    # the other way round the 50 MiB segment is split for the 30 MiB one
    reused = replay_phases([[2, -2], [1, -1]], sizes)
    assert [p.reserved for p in reused] == [50 * MIB, 50 * MIB]
    stopped = replay_phases([[1, -1], [2, -2], [1, -1]], sizes, reserved_limit=40 * MIB)
    assert len(stopped) == 2 and stopped[-1].reserved > 40 * MIB


def test_replaying_an_allocation_twice_is_a_bug_not_a_figure() -> None:
    with pytest.raises(RuntimeError, match="still allocated"):
        replay_phases([[1], [1]], [4096])


def test_validation_leaves_the_shared_model_as_it_found_it(yolov5n: Path) -> None:
    from yolofreeze.core.memory.estimator import _model_key
    from yolofreeze.core.memory.tracing.trace import trace_step
    from yolofreeze.core.memory.tracing.validation import trace_validation

    info = read_checkpoint(str(yolov5n))
    yaml_json, nc, _ = _model_key(info)
    frozen = preset(info, "backbone").frozen
    before = trace_step(json.loads(yaml_json), nc, frozen, "SGD", True, 2, 64)
    first = trace_validation(json.loads(yaml_json), nc, True, 2, 96)
    again = trace_validation(json.loads(yaml_json), nc, True, 2, 96)
    after = trace_step(json.loads(yaml_json), nc, frozen, "SGD", True, 2, 64)
    assert (before.setup, before.step, before.nbytes) == (after.setup, after.step, after.nbytes)
    assert (first.events, first.nbytes) == (again.events, again.nbytes)  # Detect's grids are built again
    # the EMA goes to fp16 for the pass and back to fp32 in new blocks, which the run keeps
    ema_fp32 = sum(first.nbytes[k - 1] for k in first.ema)
    live: set[int] = set()
    for ev in first.events:
        if ev > 0:
            live.add(ev)
        else:
            live.discard(-ev)
    kept = sum(first.nbytes[k - 1] for k in live)
    assert 0.95 * ema_fp32 < kept < 1.05 * ema_fp32


def test_the_fast_engine_traces_validation_as_fake_tensors_do(yolov5n: Path) -> None:
    from yolofreeze.core.memory.estimator import _model_key
    from yolofreeze.core.memory.tracing.validation import trace_validation

    info = read_checkpoint(str(yolov5n))
    yaml_json, nc, _ = _model_key(info)
    meta = trace_validation(json.loads(yaml_json), nc, True, 2, 96)
    fake = trace_validation(json.loads(yaml_json), nc, True, 2, 96, engine="fake")
    assert (meta.ema, meta.events, meta.kinds) == (fake.ema, fake.events, fake.kinds)
    # eval batch norm's per-channel statistics: CPU kernels return empty ones, the meta kernel
    # C floats (as CUDA allocates): freed at once, a few KiB against the pass's megabytes
    differ = [(a, b) for a, b in zip(meta.nbytes, fake.nbytes, strict=True) if a != b]
    assert differ and all(b == 0 and a <= 4 * 1024 for a, b in differ)
    assert sum(a for a, _ in differ) < 0.01 * sum(meta.nbytes)


def test_estimate_prints_and_exports_the_whole_run(yolov5n: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["estimate", str(yolov5n), "--preset", "all", "--batch", "16", "--img", "640", "--gpu-mem", "8"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "whole run reserved" in out
    assert "set by validation" in out
    assert main([*args, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["run_peak_reserved"] > plan["peak_reserved"]
    assert plan["run_nvidia_smi"] == plan["run_peak_reserved"] + CUDA_CONTEXT_BYTES
    assert plan["run_peak_phase"] == PHASE_VALIDATION


def test_a_gpu_that_holds_epoch_0_but_not_validation_does_not_fit(
    yolov5n: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = read_checkpoint(str(yolov5n))
    est = estimate_memory(info, preset(info, "all").frozen, TrainConfig(batch=16, img=640))
    between = (est.plan.nvidia_smi + est.run_nvidia_smi) / 2 / (1 << 30)
    args = ["estimate", str(yolov5n), "--preset", "all", "--batch", "16", "--img", "640"]
    assert main([*args, "--gpu-mem", f"{between:.4f}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fits"] is False
