"""The plan being edited: the current plan, its undo/redo history and what is saved. UI-free.

The main screen holds one ``PlanSession`` and only asks it; every edit (a toggle, a preset, a
loaded file, undo, redo) goes through here, so the rules — a new edit drops the redo tail, an
edit that changes nothing is not a step, quitting asks only when the plan differs from what is
on disk — are tested without a screen.
"""

from __future__ import annotations

from collections.abc import Sequence

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.plan.freeze import FreezePlan, preset


class PlanSession:
    def __init__(self, plan: FreezePlan) -> None:
        self.info: ModelInfo = plan.info
        self._states: list[frozenset[str]] = [plan.frozen]
        self._index = 0
        self._plan = plan
        self.saved: frozenset[str] = plan.frozen  # on disk, or the starting point

    @property
    def plan(self) -> FreezePlan:
        return self._plan

    @property
    def unsaved(self) -> bool:
        return self._plan.frozen != self.saved

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index + 1 < len(self._states)

    def apply(self, plan: FreezePlan) -> FreezePlan:
        """Make ``plan`` current as a new step (dropping the redo tail); a no-op edit is no step."""
        if plan.frozen != self._states[self._index]:
            del self._states[self._index + 1 :]
            self._states.append(plan.frozen)
            self._index += 1
        self._plan = plan
        return plan

    def toggle(self, names: Sequence[str]) -> FreezePlan:
        return self.apply(self._plan.toggle(names))

    def preset(self, spec: str) -> FreezePlan:
        """Apply a preset (``none``, ``backbone``, ``first:N`` …); PlanError leaves the plan as it was."""
        return self.apply(preset(self.info, spec))

    def undo(self) -> FreezePlan | None:
        if not self.can_undo:
            return None
        self._index -= 1
        self._plan = FreezePlan(self.info, self._states[self._index])
        return self._plan

    def redo(self) -> FreezePlan | None:
        if not self.can_redo:
            return None
        self._index += 1
        self._plan = FreezePlan(self.info, self._states[self._index])
        return self._plan

    def mark_saved(self, plan: FreezePlan | None = None) -> None:
        """``plan`` (default: the current one) is now on disk: quitting with it loses nothing."""
        self.saved = (plan or self._plan).frozen
