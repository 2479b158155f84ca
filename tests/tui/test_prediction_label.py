"""A run record says what its prediction was computed for, and the monitor says it back (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.launch_helpers import make_record
from tests.tui.tui_support import fake_estimator
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.errors import RunRecordError
from yolofreeze.core.memory.estimator import MemoryEstimate, RunPeak, TrainConfig, prediction_record
from yolofreeze.core.training.runs import RunRecord, write_json_atomic
from yolofreeze.tui.widgets.memory_compare import predicted_for


def estimate(yolov5s: Path, config: TrainConfig) -> MemoryEstimate:
    info = read_checkpoint(yolov5s)
    est = fake_estimator()(info, frozenset(), config, lambda: False)
    run = RunPeak(est.plan.peak_allocated, est.plan.peak_reserved + (300 << 20), 5 << 30, "validation")
    return MemoryEstimate(est.config, est.plan, est.baseline, est.accumulate, plan_run=run, baseline_run=run)


def test_the_record_keeps_the_configuration_and_both_figures(yolov5s: Path, tmp_path: Path) -> None:
    est = estimate(yolov5s, TrainConfig(batch=8, img=96, optimizer="AdamW", gpus=2))
    rec = make_record(tmp_path, "r1", prediction=prediction_record(est))
    back = RunRecord.load(rec.dir)
    assert back.prediction["config"] == {
        "batch": 8, "per_gpu_batch": 4, "img": 96, "optimizer": "AdamW", "gpus": 2, "amp": True
    }  # fmt: skip
    assert back.prediction["run"] == {"reserved": est.plan.peak_reserved + (300 << 20), "nvidia_smi": 5 << 30,
                                      "phase": "validation"}  # fmt: skip
    assert back.prediction["step"]["nvidia_smi"] == est.plan.nvidia_smi
    assert predicted_for(back.prediction) == " for batch 8 @ 96 px, AdamW, 2 GPUs (whole run)"


def test_a_record_without_a_prediction_says_nothing_for_it(tmp_path: Path) -> None:
    rec = make_record(tmp_path, "old")
    assert RunRecord.load(rec.dir).prediction == {} and predicted_for({}) == ""


@pytest.mark.parametrize(
    "bad",
    [
        {"config": {"batch": "8"}},
        {"config": {"optimizer": "SGD\x1b]0;pwned\x07"}},  # an escape sequence never reaches the screen
        {"run": {"nvidia_smi": -1}},
        {"step": [1, 2]},
    ],
)
def test_a_tampered_prediction_makes_the_record_unreadable_not_the_screen(tmp_path: Path, bad: dict) -> None:
    rec = make_record(tmp_path, "r1")
    import json

    data = json.loads((rec.dir / "run.json").read_text())
    write_json_atomic(rec.dir / "run.json", {**data, "prediction": bad})
    with pytest.raises(RunRecordError, match="prediction"):
        RunRecord.load(rec.dir)
