"""What the plan's messages name: the layer a user half froze, not the whole ones beside it."""

from __future__ import annotations

from pathlib import Path

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import preset, yolov5_args


def test_no_freeze_note_names_the_partly_frozen_layer(yolov5s: Path) -> None:
    info = read_checkpoint(yolov5s)
    # the backbone but one bottleneck conv of layer 4: layers 0-3 and 5-9 are whole
    plan = preset(info, "backbone").toggle(["model.4.m.0.cv1.conv.weight"])
    note = yolov5_args(plan).note
    assert "layer 4 (20/21 tensors) is frozen in part" in note
    assert "model.0." not in note
    two = plan.toggle(["model.0.conv.weight"])
    assert "layers 0 (2/3 tensors), 4 (20/21 tensors) are frozen in part" in yolov5_args(two).note
