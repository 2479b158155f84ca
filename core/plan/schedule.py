"""Freeze schedules: a list of phases, each "from epoch k, exactly this set is frozen".

A plain plan is a one-phase schedule. A phase also says its BatchNorm policy (frozen BN layers
kept in eval mode or not) and an optional learning-rate multiplier per named group; a group is a
list of parameter-name prefixes (e.g. ``backbone`` = ``model.0.`` … ``model.9.``), matched as
train.py matches its freeze list (substring), and no parameter may fall in two groups.

Schedules come from plan files, i.e. untrusted input: the number of phases and groups, the epoch
numbers and the multipliers are bounded, every name must be a parameter of the checkpoint, and
nothing is built in proportion to a number in the text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.errors import PlanError

MAX_PHASES = 64
MAX_GROUPS = 16
MAX_GROUP_PREFIXES = 1_000
MAX_START_EPOCH = 100_000  # the launcher's own epoch limit
MIN_LR_MULTIPLIER = 1e-6
MAX_LR_MULTIPLIER = 100.0
_GROUP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Phase:
    """From ``start_epoch`` (0-based, as train.py counts) until the next phase starts."""

    start_epoch: int
    frozen: frozenset[str]
    bn_eval: bool = True
    lr: tuple[tuple[str, float], ...] = ()  # (group name, multiplier); groups not named run at x1

    def multiplier(self, group: str) -> float:
        return dict(self.lr).get(group, 1.0)


@dataclass(frozen=True)
class Schedule:
    phases: tuple[Phase, ...]
    lr_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, prefixes)

    @property
    def staged(self) -> bool:
        """More than a plain plan: several phases or a learning-rate multiplier."""
        return len(self.phases) > 1 or any(ph.lr for ph in self.phases)

    def phase_index(self, epoch: int) -> int:
        """The phase in force at ``epoch`` (the last one that started at or before it)."""
        idx = 0
        for i, ph in enumerate(self.phases):
            if ph.start_epoch <= epoch:
                idx = i
        return idx

    @property
    def always_frozen(self) -> frozenset[str]:
        """What stays frozen for the whole run: the after-run file check holds for these."""
        out = set(self.phases[0].frozen)
        for ph in self.phases[1:]:
            out &= ph.frozen
        return frozenset(out)

    def group_of(self, names: Iterable[str]) -> dict[str, str]:
        """Parameter name -> the lr group it belongs to (names in no group are left out)."""
        rx = [(g, re.compile("|".join(re.escape(p) for p in pre))) for g, pre in self.lr_groups]
        out: dict[str, str] = {}
        for n in names:
            for g, r in rx:
                if r.search(n):
                    out[n] = g
                    break
        return out

    def describe(self) -> list[str]:
        lines = []
        for i, ph in enumerate(self.phases):
            end = self.phases[i + 1].start_epoch - 1 if i + 1 < len(self.phases) else None
            span = f"epochs {ph.start_epoch}-{end}" if end is not None else f"epochs {ph.start_epoch}-"
            lr = ", ".join(f"{g} x{m:g}" for g, m in ph.lr)
            lines.append(
                f"phase {i} ({span}): {len(ph.frozen)} tensors frozen; "
                f"BatchNorm {'frozen layers in eval' if ph.bn_eval else 'policy off'}" + (f"; lr {lr}" if lr else "")
            )
        return lines


def one_phase(frozen: Iterable[str], bn_eval: bool = True) -> Schedule:
    return Schedule((Phase(0, frozenset(frozen), bn_eval),))


def refusal(fmt: str, schedule: Schedule | None) -> str | None:
    """Why ``fmt`` cannot carry ``schedule`` (only json carries phases), or None."""
    if schedule is None or not schedule.staged or fmt == "json":
        return None
    return (
        f"the {fmt} format holds one frozen set; this schedule has {len(schedule.phases)} phases"
        + (" and learning-rate multipliers" if any(ph.lr for ph in schedule.phases) else "")
        + ": export it with --format json"
    )


def schedule_json(schedule: Schedule, order: list[str]) -> dict[str, Any]:
    """The ``schedule`` member of a plan file; frozen names in the checkpoint's order."""
    return {
        "lr_groups": {g: list(pre) for g, pre in schedule.lr_groups},
        "phases": [
            {
                "from_epoch": ph.start_epoch,
                "frozen": [n for n in order if n in ph.frozen],
                "bn_eval": ph.bn_eval,
                "lr": dict(ph.lr),
            }
            for ph in schedule.phases
        ],
    }


def schedule_from_json(info: ModelInfo, doc: Any) -> Schedule:
    """The plan file's ``schedule`` member, checked against ``info``; PlanError says what is wrong."""
    if not isinstance(doc, Mapping):
        raise PlanError('plan file: "schedule" must be an object with "phases"')
    known = {p.name for p in info.parameters}
    groups = _groups(doc.get("lr_groups", {}), known)
    phases_doc = doc.get("phases")
    if not isinstance(phases_doc, list) or not phases_doc:
        raise PlanError('plan file: "schedule.phases" must be a non-empty list')
    if len(phases_doc) > MAX_PHASES:
        raise PlanError(f"plan file: {len(phases_doc):,} phases; at most {MAX_PHASES}")
    phases: list[Phase] = []
    for i, ph in enumerate(phases_doc):
        phases.append(_phase(i, ph, known, {g for g, _ in groups}))
        if i == 0 and phases[0].start_epoch != 0:
            raise PlanError("plan file: the first phase must start at epoch 0")
        if i and phases[i].start_epoch <= phases[i - 1].start_epoch:
            raise PlanError(f"plan file: phase {i} must start after phase {i - 1} (epochs increase)")
    return Schedule(tuple(phases), groups)


def _whole(value: Any, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise PlanError(f"plan file: {what} must be a whole number {lo}..{hi}")
    return value


def _groups(doc: Any, known: set[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(doc, Mapping):
        raise PlanError('plan file: "schedule.lr_groups" must map group names to prefix lists')
    if len(doc) > MAX_GROUPS:
        raise PlanError(f"plan file: {len(doc):,} learning-rate groups; at most {MAX_GROUPS}")
    out: list[tuple[str, tuple[str, ...]]] = []
    owner: dict[str, str] = {}
    for name, prefixes in doc.items():
        if not isinstance(name, str) or not _GROUP_NAME.fullmatch(name):
            raise PlanError("plan file: a learning-rate group name must be a short identifier (letters, digits, _-)")
        if (
            not isinstance(prefixes, list)
            or not prefixes
            or len(prefixes) > MAX_GROUP_PREFIXES
            or not all(isinstance(p, str) and p for p in prefixes)
        ):
            raise PlanError(f"plan file: group {name}: a list of 1..{MAX_GROUP_PREFIXES} parameter-name prefixes")
        rx = re.compile("|".join(re.escape(p) for p in prefixes))
        members = [n for n in known if rx.search(n)]
        if not members:
            raise PlanError(f"plan file: group {name} matches no parameter of this checkpoint")
        for n in members:
            if n in owner:
                raise PlanError(f"plan file: {n} is in two learning-rate groups ({owner[n]}, {name})")
            owner[n] = name
        out.append((name, tuple(prefixes)))
    return tuple(out)


def _phase(i: int, doc: Any, known: set[str], groups: set[str]) -> Phase:
    if not isinstance(doc, Mapping):
        raise PlanError(f"plan file: phase {i} must be an object")
    start = _whole(doc.get("from_epoch"), f"phase {i} from_epoch", 0, MAX_START_EPOCH)
    names = doc.get("frozen")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PlanError(f"plan file: phase {i}: frozen must be a list of parameter names")
    unknown = next((n for n in names if n not in known), None)
    if unknown is not None:
        raise PlanError(f"plan file: phase {i} names a parameter this checkpoint does not have: {unknown[:120]}")
    bn = doc.get("bn_eval", True)
    if not isinstance(bn, bool):
        raise PlanError(f"plan file: phase {i}: bn_eval must be true or false")
    lr_doc = doc.get("lr", {})
    if not isinstance(lr_doc, Mapping):
        raise PlanError(f"plan file: phase {i}: lr must map group names to multipliers")
    lr: list[tuple[str, float]] = []
    for g, m in lr_doc.items():
        if g not in groups:
            raise PlanError(f"plan file: phase {i}: lr names {str(g)[:40]!r}, which is not in lr_groups")
        if isinstance(m, bool) or not isinstance(m, int | float) or not math.isfinite(m):
            raise PlanError(f"plan file: phase {i}: the multiplier of {g} must be a finite number")
        if not MIN_LR_MULTIPLIER <= m <= MAX_LR_MULTIPLIER:
            raise PlanError(
                f"plan file: phase {i}: the multiplier of {g} must be in {MIN_LR_MULTIPLIER:g}..{MAX_LR_MULTIPLIER:g}"
            )
        lr.append((g, float(m)))
    return Phase(start, frozenset(names), bn, tuple(lr))


def layer_prefixes(first: int, last: int) -> tuple[str, ...]:
    """``model.first.`` … ``model.last.``: the usual shape of a group (the backbone is 0..9 of a P5 model)."""
    return tuple(f"model.{i}." for i in range(first, last + 1))


def written_schedule(doc: Mapping[str, Any]) -> Schedule:
    """A schedule as ``schedule_json`` wrote it into a run folder, after the launcher checked it."""
    groups = tuple((str(g), tuple(pre)) for g, pre in doc.get("lr_groups", {}).items())
    phases = tuple(
        Phase(int(ph["from_epoch"]), frozenset(ph["frozen"]), bool(ph["bn_eval"]), tuple(ph.get("lr", {}).items()))
        for ph in doc["phases"]
    )
    return Schedule(phases, groups)
