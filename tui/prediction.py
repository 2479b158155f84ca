"""The prediction a launch stores: estimated for exactly the validated options (CLI ``train``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TextIO

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.errors import YoloFreezeError
from yolofreeze.core.memory.estimator import MemoryEstimate, TrainConfig, prediction_record
from yolofreeze.core.training.launch import LaunchOptions, Validation
from yolofreeze.tui.format import human_bytes, safe_text


def train_config(opts: LaunchOptions, v: Validation) -> TrainConfig:
    """What the estimate depends on, as train.py will run these options (CPU runs without AMP)."""
    return TrainConfig(
        batch=opts.batch, img=opts.img, optimizer=opts.optimizer, gpus=max(v.gpus, 1), amp=v.device != "cpu"
    )


def with_prediction(opts: LaunchOptions, est: MemoryEstimate) -> LaunchOptions:
    """``opts`` carrying ``est`` as the run's prediction: the whole run's figure, and what it is for."""
    run = est.plan_run
    return replace(
        opts,
        predicted_reserved=run.peak_reserved if run is not None else est.plan.peak_reserved,
        predicted_nvidia_smi=est.run_nvidia_smi,
        prediction=prediction_record(est),
    )


def predict_in_child(info: ModelInfo, opts: LaunchOptions, v: Validation, err: TextIO) -> LaunchOptions:
    """Estimate in the estimate child (torch stays out of this process) and attach it; a failed
    estimate is said in one line and the launch goes on without a prediction."""
    from yolofreeze.tui.estimate_process import ProcessEstimator

    config = train_config(opts, v)
    gpus = f"{config.gpus} GPU" + ("s" if config.gpus != 1 else "")
    print(f"predicting GPU memory for batch {config.batch} @ {config.img} px, {gpus} …", file=err, flush=True)
    estimator = ProcessEstimator()
    try:
        est = estimator(info, opts.frozen, config, lambda: False)
    except YoloFreezeError as e:
        print(f"yolofreeze-tui: no prediction stored: {safe_text(e.message)}", file=err)
        return opts
    finally:
        estimator.close()
    print(
        f"predicted: nvidia-smi {human_bytes(est.run_nvidia_smi)} per GPU for the whole run "
        f"(epoch 0 {human_bytes(est.plan.nvidia_smi)})",
        file=err,
        flush=True,
    )
    return with_prediction(opts, est)
