"""The edit session behind the main screen: undo/redo and "unsaved" as a user meets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.errors import PlanError
from yolofreeze.core.plan.freeze import FreezePlan
from yolofreeze.core.plan.session import PlanSession


@pytest.fixture(scope="module")
def session_start(yolov5s: Path) -> FreezePlan:
    return FreezePlan(read_checkpoint(yolov5s))


def test_undo_redo_walk_the_edits_and_a_new_edit_drops_the_redo_tail(session_start: FreezePlan) -> None:
    s = PlanSession(session_start)
    assert not s.can_undo and s.undo() is None and not s.unsaved
    backbone = s.preset("backbone")
    assert backbone.counts.frozen_params > 0 and s.unsaved
    first3 = s.preset("first:3")
    undone = s.undo()
    assert undone is not None and undone.frozen == backbone.frozen == s.plan.frozen
    assert s.redo() is not None and s.plan.frozen == first3.frozen
    s.undo()
    s.undo()
    assert s.plan.frozen == frozenset() and not s.unsaved
    s.preset("all")  # a new edit after undo: the redo tail (backbone, first:3) is gone
    assert not s.can_redo and s.redo() is None
    assert s.undo() is not None and s.plan.frozen == frozenset()


def test_an_edit_that_changes_nothing_is_no_step(session_start: FreezePlan) -> None:
    s = PlanSession(session_start)
    s.preset("none")
    assert not s.can_undo
    names = [session_start.info.parameters[0].name]
    s.toggle(names)
    s.toggle(names)
    assert s.can_undo and s.plan.frozen == frozenset() and not s.unsaved


def test_saved_plan_is_what_quitting_compares_with(session_start: FreezePlan) -> None:
    s = PlanSession(session_start)
    s.preset("backbone")
    s.mark_saved()
    assert not s.unsaved
    s.preset("none")
    assert s.unsaved
    s.undo()
    assert not s.unsaved


def test_a_bad_preset_leaves_the_plan_as_it_was(session_start: FreezePlan) -> None:
    s = PlanSession(session_start)
    s.preset("backbone")
    before = s.plan.frozen
    with pytest.raises(PlanError):
        s.preset("bogus")
    assert s.plan.frozen == before and s.can_undo
