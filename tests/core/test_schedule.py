"""Freeze schedules in plan files: round trip, refusals by other formats, hostile phases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.errors import PlanError
from yolofreeze.core.plan.freeze import FORMATS, export, import_plan, preset
from yolofreeze.core.plan.schedule import Phase, Schedule, layer_prefixes


@pytest.fixture(scope="module")
def info(yolov5n: Path) -> ModelInfo:
    return read_checkpoint(yolov5n)


def backbone_then_all(info: ModelInfo) -> Schedule:
    backbone = preset(info, "backbone").frozen
    return Schedule(
        (Phase(0, backbone), Phase(2, frozenset(), True, (("backbone", 0.1),))),
        (("backbone", layer_prefixes(0, 9)),),
    )


def test_json_round_trip_keeps_every_phase(info: ModelInfo) -> None:
    s = backbone_then_all(info)
    text = export(preset(info, "backbone"), "json", schedule=s).text
    back = import_plan(info, text)
    assert back.schedule == s
    assert back.plan.frozen == s.phases[0].frozen  # readers of one frozen set get phase 0
    assert json.loads(text)["frozen"] == [p.name for p in info.parameters if p.name in s.phases[0].frozen]
    assert back.schedule.phase_index(1) == 0 and back.schedule.phase_index(2) == 1
    assert back.schedule.phase_index(500) == 1
    assert s.always_frozen == frozenset()


def test_plain_plan_file_has_no_schedule_member(info: ModelInfo) -> None:
    text = export(preset(info, "backbone"), "json").text
    assert "schedule" not in json.loads(text)
    assert import_plan(info, text).schedule is None


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "json"])
def test_other_formats_refuse_a_schedule_naming_json(info: ModelInfo, fmt: str) -> None:
    e = export(preset(info, "backbone"), fmt, schedule=backbone_then_all(info))
    assert not e.exact and e.text == ""
    assert "2 phases" in e.note and "--format json" in e.note and "\n" not in e.note


def _doc(info: ModelInfo, **phase1: Any) -> str:
    doc = json.loads(export(preset(info, "backbone"), "json", schedule=backbone_then_all(info)).text)
    doc["schedule"]["phases"][1].update(phase1)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"from_epoch": 0}, "must start after phase 0"),
        ({"from_epoch": -1}, "whole number 0..100000"),
        ({"from_epoch": 10**30}, "whole number 0..100000"),
        ({"from_epoch": True}, "whole number"),
        ({"lr": {"backbone": 0}}, "must be in"),
        ({"lr": {"backbone": -0.1}}, "must be in"),
        ({"lr": {"backbone": 1e308 * 10}}, "finite"),
        ({"lr": {"backbone": "0.1"}}, "finite number"),
        ({"lr": {"neck": 0.1}}, "not in lr_groups"),
        ({"frozen": ["model.0.conv.weight", "model.999.x"]}, "does not have: model.999.x"),
        ({"bn_eval": "yes"}, "true or false"),
    ],
)
def test_bad_phases_are_one_clear_error(info: ModelInfo, change: dict[str, Any], says: str) -> None:
    with pytest.raises(PlanError, match=says.replace(".", r"\.")):
        import_plan(info, _doc(info, **change))


def test_phase_count_and_groups_are_bounded(info: ModelInfo) -> None:
    doc = json.loads(_doc(info))
    doc["schedule"]["phases"] = [{"from_epoch": i, "frozen": []} for i in range(65)]
    with pytest.raises(PlanError, match="65 phases; at most 64"):
        import_plan(info, json.dumps(doc))
    doc = json.loads(_doc(info))
    doc["schedule"]["lr_groups"]["head"] = ["model.9."]  # overlaps the backbone group
    with pytest.raises(PlanError, match="in two learning-rate groups"):
        import_plan(info, json.dumps(doc))
    doc["schedule"]["lr_groups"] = {"ghost": ["model.77."]}
    with pytest.raises(PlanError, match="matches no parameter"):
        import_plan(info, json.dumps(doc))


def test_describe_names_spans_and_multipliers(info: ModelInfo) -> None:
    lines = backbone_then_all(info).describe()
    assert lines[0].startswith("phase 0 (epochs 0-1): ")
    assert lines[1].startswith("phase 1 (epochs 2-): 0 tensors frozen") and "backbone x0.1" in lines[1]
