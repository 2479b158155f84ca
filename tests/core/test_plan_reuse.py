"""A JSON plan made on one model size, opened on another: applied by the file's layer prefixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.errors import PlanError
from yolofreeze.core.plan.freeze import export, import_plan, layer_ranges, preset, yolov5_args


@pytest.fixture(scope="module")
def small_and_medium(yolov5s: Path, large_checkpoint):  # type: ignore[no-untyped-def]
    return read_checkpoint(yolov5s), read_checkpoint(large_checkpoint("yolov5m.pt"))


def test_backbone_plan_of_yolov5s_freezes_yolov5m_backbone(small_and_medium) -> None:  # type: ignore[no-untyped-def]
    s, m = small_and_medium
    text = export(preset(s, "backbone"), "json", "0" * 64).text
    got = import_plan(m, text)
    # by name it would be 99 of yolov5m's 243 tensors and layers 2/4/6/8 half frozen
    assert got.plan.frozen == preset(m, "backbone").frozen
    assert yolov5_args(got.plan).text == "--freeze 10"
    assert got.warnings == ("applied by layer: model.0.-model.9. (from yolov5s.pt); 0 names unmatched",)


def test_same_checkpoint_is_still_applied_by_name(small_and_medium) -> None:  # type: ignore[no-untyped-def]
    s, _ = small_and_medium
    plan = preset(s, "backbone").toggle(["model.0.conv.weight"])
    got = import_plan(s, export(plan, "json", "0" * 64).text)
    assert got.plan.frozen == plan.frozen
    assert got.warnings == ()


def test_prefixes_that_match_nothing_are_named(small_and_medium) -> None:  # type: ignore[no-untyped-def]
    s, m = small_and_medium
    doc = json.loads(export(preset(s, "first:2"), "json", "0" * 64).text)
    doc["prefixes"] = [*doc["prefixes"], "model.99."]
    got = import_plan(m, json.dumps(doc))
    assert got.plan.frozen == preset(m, "first:2").frozen
    assert got.warnings[0].endswith("1 name unmatched (model.99.)")
    doc["prefixes"] = ["model.99."]
    with pytest.raises(PlanError, match="none of its 1 prefixes match"):
        import_plan(m, json.dumps(doc))


def test_layer_ranges() -> None:
    assert layer_ranges(["model.0.", "model.1.", "model.2.", "model.5.", "model.6.cv1."]) == (
        "model.0.-model.2., model.5., model.6.cv1."
    )
    assert layer_ranges([f"model.{i}." for i in range(0, 20, 2)], most=2).endswith("… (8 more)")
