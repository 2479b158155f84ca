"""Schedules through the CLI (export, estimate) and the after-run check's per-phase verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.plan.freeze import export, preset
from yolofreeze.core.plan.schedule import Phase, Schedule, layer_prefixes, schedule_json
from yolofreeze.core.training.verify import Verdict, input_digest, optimizer_steps, phase_checks
from yolofreeze.tui.cli import main


@pytest.fixture(scope="module")
def info(yolov5n: Path) -> ModelInfo:
    return read_checkpoint(yolov5n)


@pytest.fixture
def schedule_file(info: ModelInfo, tmp_path: Path) -> Path:
    s = Schedule(
        (Phase(0, preset(info, "backbone").frozen), Phase(2, frozenset(), True, (("backbone", 0.1),))),
        (("backbone", layer_prefixes(0, 9)),),
    )
    f = tmp_path / "schedule.json"
    f.write_text(export(preset(info, "backbone"), "json", schedule=s).text)
    return f


def test_export_json_round_trips_a_schedule_and_yolov5_refuses_it(
    yolov5n: Path, schedule_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(yolov5n), "--plan", str(schedule_file), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["schedule"] == json.loads(schedule_file.read_text())["schedule"]
    assert main(["export", str(yolov5n), "--plan", str(schedule_file), "--format", "yolov5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 phases" in err[0] and "--format json" in err[0]


def test_estimate_prints_each_phase_and_fits_the_largest(
    yolov5n: Path, schedule_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["estimate", str(yolov5n), "--plan", str(schedule_file), "--batch", "8", "--img", "128", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    small, large = doc["phases"]
    assert (small["from_epoch"], large["from_epoch"]) == (0, 2)
    assert large["nvidia_smi"] > small["nvidia_smi"]  # everything trainable costs more
    assert doc["peak_phase"] == 1 and doc["plan"]["nvidia_smi"] == large["nvidia_smi"]


def _snap(info: ModelInfo, path: Path, epoch: int, phase: int | None, moved: set[str]) -> dict[str, object]:
    params = {p.name: input_digest(path, p) for p in info.parameters}
    return {
        "before_epoch": epoch,
        "phase": phase,
        "bn_eval": [],
        "params": {n: ("x" + d if n in moved else d) for n, d in params.items()},
        "bn": {},
    }


def test_a_frozen_tensor_that_moved_fails_its_phase(info: ModelInfo, yolov5n: Path) -> None:
    backbone = preset(info, "backbone").frozen
    s = Schedule((Phase(0, backbone), Phase(2, frozenset())))
    doc = schedule_json(s, [p.name for p in info.parameters])
    head = {n for n in (p.name for p in info.parameters) if n.startswith("model.24.")}
    sneaked = sorted(backbone)[0]
    snaps = [
        _snap(info, yolov5n, 0, 0, set()),
        _snap(info, yolov5n, 2, 1, head | {sneaked}),  # one backbone tensor moved while frozen
        _snap(info, yolov5n, 4, None, set(backbone) | head),
    ]
    first, second = phase_checks({"snapshots": snaps}, doc, str(yolov5n), info)
    assert not first.ok and first.changed_frozen == (sneaked,)
    assert first.input_equal == len(backbone) - 1
    assert "phase 0 (epochs 0-1) FAIL" in first.line
    assert second.ok and second.released_total == len(backbone)


def test_summary_counts_tensors_and_parameters_and_says_why_some_did_not_change() -> None:
    v = Verdict("last.pt", 99, 99, (), 0.0, 0, 0, (), 47, 78, False, 1_046_368, "the other {n} did not move")
    assert "99/99 frozen tensors (1,046,368 parameters) identical" in v.summary
    assert "47/78 trainable tensors changed (the other 31 did not move)" in v.summary


def test_optimizer_steps_follow_train_pys_warm_up_accumulate() -> None:
    assert optimizer_steps(32, 1, 4) == 4  # accumulate ramps from 1: every batch steps early on
    assert optimizer_steps(64, 1000, 1) == 1000  # accumulate 1 throughout
    assert optimizer_steps(16, 500, 2) < 1000  # accumulate 4 after the warm-up
