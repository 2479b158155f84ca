"""Freeze plans: the exact set of frozen parameters, with YOLOv5 train.py's semantics.

train.py freezes a parameter when any prefix in its list is a *substring* of the parameter's
name; ``--freeze N`` means prefixes ``model.0.`` … ``model.{N-1}.``, two or more numbers are an
explicit list of layers. A plan here is a set of parameter names, so it can also hold single
modules or single parameters; each export format says what it cannot express.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.errors import EXIT_BAD_DATA, PlanError
from yolofreeze.core.plan import schedule as sched
from yolofreeze.core.safeio import UnsafePathError, read_limited
from yolofreeze.core.safeio import (
    write_atomic as write_atomic,  # the one atomic writer; callers import it from here too
)

FORMATS = ("yolov5", "python", "ultralytics", "json", "names")
PRESETS_HELP = "none, backbone, all, first:N, layers:i,j,k"
PLAN_FILE_TAG = "yolofreeze-plan"
# A real plan file is kilobytes (every parameter name of yolov5x as JSON is ~40 KiB); the bound
# only has to stop /dev/zero-like inputs and keep the parse of the worst file under ~0.5 GiB.
MAX_PLAN_BYTES = 16 * 1024 * 1024
# Entries in a list plan (python/ultralytics/--freeze): far more than any model needs, small enough
# that ast.literal_eval of the worst file stays fast and small.
MAX_PLAN_ENTRIES = 100_000
_MAX_DIGITS = 18  # beyond this a layer number is out of range for any file (and int() would be slow)
_LAYER_RX = re.compile(r"model\.([0-9]+)\.")


def matched_names(info: ModelInfo, prefixes: Sequence[str]) -> set[str]:
    """All parameter names train.py's rule freezes for ``prefixes`` (one regex scan per name)."""
    if not prefixes:
        return set()
    rx = re.compile("|".join(re.escape(x) for x in prefixes))
    return {p.name for p in info.parameters if rx.search(p.name)}


@dataclass(frozen=True)
class PlanCounts:
    total_params: int
    trainable_params: int
    frozen_params: int
    total_bytes: int  # as stored in the checkpoint
    trainable_bytes: int
    frozen_bytes: int
    total_tensors: int
    frozen_tensors: int

    @property
    def frozen_fraction(self) -> float:
        return self.frozen_params / self.total_params if self.total_params else 0.0

    @property
    def trainable_fraction(self) -> float:
        return self.trainable_params / self.total_params if self.total_params else 0.0


@dataclass(frozen=True)
class FreezePlan:
    """An immutable plan: ``frozen`` is the exact set of frozen parameter names."""

    info: ModelInfo = field(repr=False, compare=False)
    frozen: frozenset[str] = frozenset()

    @cached_property
    def counts(self) -> PlanCounts:
        tp = tb = fp = fb = ft = 0
        for p in self.info.parameters:
            tp += p.numel
            tb += p.nbytes
            if p.name in self.frozen:
                fp += p.numel
                fb += p.nbytes
                ft += 1
        return PlanCounts(tp, tp - fp, fp, tb, tb - fb, fb, len(self.info.parameters), ft)

    def with_frozen(self, names: Iterable[str], frozen: bool) -> FreezePlan:
        names = set(names)
        new = self.frozen | names if frozen else self.frozen - names
        return FreezePlan(self.info, frozenset(new))

    def toggle(self, names: Sequence[str]) -> FreezePlan:
        """Freeze all of ``names`` unless all are frozen already, then unfreeze them."""
        return self.with_frozen(names, not all(n in self.frozen for n in names))

    def state_of(self, names: Sequence[str]) -> str:
        """'frozen', 'trainable' or 'mixed' (an empty selection reads as trainable)."""
        n = sum(1 for x in names if x in self.frozen)
        if n == 0:
            return "trainable"
        return "frozen" if n == len(names) else "mixed"

    @property
    def ordered_frozen(self) -> list[str]:
        return [p.name for p in self.info.parameters if p.name in self.frozen]


# ---------------------------------------------------------------------------------------------
# presets


def plan_from_prefixes(info: ModelInfo, prefixes: Iterable[str]) -> FreezePlan:
    return FreezePlan(info, frozenset(matched_names(info, list(prefixes))))


def _below(digits: str, n: int) -> bool:
    """``int(digits) < n`` for the canonical spelling train.py writes (no leading zeros)."""
    if len(digits) > 1 and digits[0] == "0":
        return False  # "model.007." is not "model.7.": no prefix f"model.{x}." can match it
    limit = str(n)
    return len(digits) < len(limit) or (len(digits) == len(limit) and digits < limit)


def first_n_names(info: ModelInfo, n: int) -> frozenset[str]:
    """What ``--freeze N`` freezes (prefixes ``model.0.`` … ``model.{N-1}.``), without building them.

    train.py's rule is "some ``model.{x}.`` with x < N occurs in the name"; scanning each name for
    ``model.<digits>.`` gives exactly that in time linear in the names, however large N is (a file
    may number a layer 200,000,000: ``range(N)`` would be gigabytes).
    """
    if n <= 0:
        return frozenset()
    return frozenset(p.name for p in info.parameters if any(_below(m.group(1), n) for m in _LAYER_RX.finditer(p.name)))


def layer_bounds(info: ModelInfo) -> tuple[int, int] | None:
    """(lowest, highest) top-level layer number the file holds, or None without numbered layers."""
    if not info.layers:
        return None
    idx = [la.index for la in info.layers]
    return min(idx), max(idx)


class NothingToTrainError(PlanError):
    """A plan that freezes every parameter: train.py would fail, and there is no step to estimate."""

    exit_code = EXIT_BAD_DATA  # as the training checks that say "train.py would fail"


def nothing_to_train(info: ModelInfo, frozen: Iterable[str]) -> str | None:
    """The one line to show when ``frozen`` leaves no parameter of ``info`` trainable, else None."""
    if {p.name for p in info.parameters} - set(frozen):
        return None
    last = detect_layer_index(info)
    keep = f"unfreeze at least the output layer (model.{last}.)" if last is not None else "unfreeze something"
    return (
        "nothing left to train: every parameter is frozen, so train.py would fail at its first "
        f"backward pass (the loss has no gradient); {keep}"
    )


def require_something_to_train(info: ModelInfo, frozen: Iterable[str]) -> None:
    problem = nothing_to_train(info, frozen)
    if problem is not None:
        raise NothingToTrainError(problem)


def first_n_limit(info: ModelInfo) -> int:
    """The largest N for ``first:N`` / ``--freeze N``: N = last layer index freezes all but the output
    layer (the "all" preset); one more would freeze everything. 0 without numbered layers."""
    bounds = layer_bounds(info)
    return bounds[1] if bounds else 0


def _check_first_n(info: ModelInfo, n: int, what: str) -> None:
    hi = first_n_limit(info)
    if not 0 <= n <= hi:
        why = f" (more would freeze the output layer model.{hi}. too: nothing left to train)" if n > hi else ""
        raise PlanError(f"{what} takes 0..{hi} for this model, got {n}{why}")


def _check_layers(info: ModelInfo, idx: Sequence[int], what: str) -> list[int]:
    """The distinct layer numbers, each checked against the layers the file holds."""
    bounds = layer_bounds(info)
    if bounds is None:
        raise PlanError(f"{what}: this checkpoint has no numbered layers (model.N.)")
    lo, hi = bounds
    bad = next((i for i in idx if not lo <= i <= hi), None)
    if bad is not None:
        raise PlanError(f"{what} takes layer numbers {lo}..{hi} for this model, got {bad}")
    return sorted(set(idx))


def plan_for_freeze_numbers(info: ModelInfo, nums: Sequence[int], what: str = "--freeze") -> FreezePlan:
    """train.py's ``--freeze`` numbers (one: the first N layers; more: a list), checked against the model."""
    if not nums:
        return FreezePlan(info, frozenset())
    if len(nums) == 1:
        _check_first_n(info, nums[0], f"{what} N")
        return FreezePlan(info, first_n_names(info, nums[0]))
    layers = _check_layers(info, nums, what)
    return plan_from_prefixes(info, [f"model.{i}." for i in layers])


def detect_layer_index(info: ModelInfo) -> int | None:
    """Index of the output (Detect/Segment) layer: the last top-level layer."""
    layer = info.detect_layer
    return layer.index if layer else None


def preset(info: ModelInfo, spec: str) -> FreezePlan:
    """Build a plan from a preset name: none, backbone, all, first:N, layers:i,j,k."""
    s = spec.strip().lower()
    if s == "none":
        return FreezePlan(info, frozenset())
    if s == "backbone":
        n = info.backbone_layers
        if n is None:
            raise PlanError(
                "backbone preset: this checkpoint has no model YAML and no SPPF layer to tell where the backbone ends"
            )
        return FreezePlan(info, first_n_names(info, n))
    if s == "all":
        last = detect_layer_index(info)
        if last is None:
            raise PlanError("all preset: this checkpoint has no numbered layers (model.N.)")
        return FreezePlan(info, first_n_names(info, last))
    if s.startswith("first:"):
        n = _int(s[6:], spec)
        if n < 0:
            raise PlanError(f"preset {spec!r}: N must be 0 or more")
        _check_first_n(info, n, "first:N")
        return FreezePlan(info, first_n_names(info, n))
    if s.startswith("layers:"):
        parts = [x for x in s[7:].split(",") if x.strip()]
        if len(parts) > MAX_PLAN_ENTRIES:
            raise PlanError(f"preset layers: lists {len(parts):,} layers; this model has {len(info.layers)}")
        idx = [_int(x, spec) for x in parts]
        if not idx:
            raise PlanError(f"preset {spec!r}: name at least one layer")
        return plan_from_prefixes(info, [f"model.{i}." for i in _check_layers(info, idx, "layers:")])
    raise PlanError(f"unknown preset {_short(spec)!r}; use one of: {PRESETS_HELP}")


def _short(text: str, n: int = 40) -> str:
    """User text quoted in a message: cut, so a 16 MiB argument is not echoed back whole."""
    return text if len(text) <= n else text[: n - 1] + "…"


def _int(text: str, spec: str) -> int:
    t = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", t):
        raise PlanError(f"preset {_short(spec)!r}: {_short(t)!r} is not a whole number")
    digits = t.lstrip("+-")
    if len(digits) > _MAX_DIGITS:  # out of range for any model; say so without int() on 5,000 digits
        raise PlanError(f"preset {_short(spec)!r}: {_short(t)} is out of range for this model")
    return int(t)


# ---------------------------------------------------------------------------------------------
# exports


@dataclass(frozen=True)
class Export:
    format: str
    text: str  # what to write or paste; empty when the format cannot carry the plan
    exact: bool
    note: str = ""


def whole_layers(plan: FreezePlan) -> list[int] | None:
    """The layers whose union is exactly the frozen set, or None if parts of layers are frozen.

    Layers without parameters (Concat, Upsample) are neither frozen nor trainable; they are
    left out of the list, and ``--freeze N`` may span them.
    """
    frozen_layers = []
    covered: set[str] = set()
    under = plan.info.subtree_parameters
    for layer in plan.info.layers:
        names = under.get(layer.prefix[:-1], ())
        if names and all(n in plan.frozen for n in names):
            frozen_layers.append(layer.index)
            covered.update(names)
    if set(plan.frozen) != covered:
        return None
    check = matched_names(plan.info, [f"model.{i}." for i in frozen_layers])
    return frozen_layers if check == set(plan.frozen) else None


def _first_n(plan: FreezePlan, layers: list[int]) -> int | None:
    """N when ``--freeze N`` (layers 0..N-1) freezes exactly these layers."""
    if not layers:
        return None
    n = layers[-1] + 1
    under = plan.info.subtree_parameters
    with_params = [la.index for la in plan.info.layers if la.index < n and under.get(la.prefix[:-1])]
    return n if with_params == layers else None


def _partial_layers(plan: FreezePlan) -> str:
    """Which layers are frozen in part, the ones that keep the plan from being ``--freeze`` numbers."""
    under = plan.info.subtree_parameters
    partial = []
    for layer in plan.info.layers:
        names = under.get(layer.prefix[:-1], ())
        n = sum(1 for x in names if x in plan.frozen)
        if 0 < n < len(names):
            partial.append((layer.index, n, len(names)))
    if not partial:  # frozen names outside every layer
        return f"this plan freezes parameters outside the layers ({', '.join(plan.ordered_frozen[:2])} …)"
    shown = ", ".join(f"{i} ({n}/{of} tensors)" for i, n, of in partial[:3])
    more = f" and {len(partial) - 3} more" if len(partial) > 3 else ""
    return f"layer{'s' if len(partial) > 1 else ''} {shown}{more} {'are' if len(partial) > 1 else 'is'} frozen in part"


def yolov5_args(plan: FreezePlan) -> Export:
    """train.py ``--freeze`` arguments, when the plan is whole layers."""
    layers = whole_layers(plan)
    if layers is None:
        return Export(
            "yolov5",
            "",
            False,
            f"--freeze takes whole layers only; {_partial_layers(plan)}. "
            f"Formats that carry it: {', '.join(carriers(plan))}",
        )
    if not layers:
        return Export("yolov5", "--freeze 0", True, "nothing frozen")
    n = _first_n(plan, layers)
    if n is not None and (n > 1 or layers == [0]):
        return Export("yolov5", f"--freeze {n}", True)
    if len(layers) == 1:
        # One number means "the first N layers"; repeating it makes train.py read a list.
        k = layers[0]
        return Export(
            "yolov5",
            f"--freeze {k} {k}",
            True,
            f"a single number would mean layers 0-{k - 1}; repeated, it names layer {k} alone",
        )
    return Export("yolov5", "--freeze " + " ".join(map(str, layers)), True)


def compress(plan: FreezePlan) -> list[str]:
    """The shortest prefix list (whole modules as ``path.``, else parameter names) for the plan."""
    info = plan.info
    out: list[str] = []
    under = info.subtree_parameters
    stack = [""]
    while stack:
        path = stack.pop()
        names = under.get(path, ())
        n = sum(1 for x in names if x in plan.frozen)
        if n == 0:
            continue
        if n == len(names) and path not in ("", "model"):
            out.append(path + ".")
            continue
        node = info.module(path)
        if node is None:
            continue
        out.extend(x for x in node.parameters if x in plan.frozen)
        stack.extend(reversed(node.children))
    if matched_names(info, out) != plan.frozen:
        out = plan.ordered_frozen  # a module prefix caught something else: fall back to names
        if matched_names(info, out) != plan.frozen:
            raise PlanError("plan cannot be written as a substring prefix list (overlapping names)")
    return out


def carriers(plan: FreezePlan) -> list[str]:
    """Formats that can carry this plan exactly."""
    out = []
    if whole_layers(plan) is not None:
        out.append("yolov5")
    out.append("python")
    if _ultralytics_items(plan) is not None:
        out.append("ultralytics")
    out += ["json", "names"]
    return out


def _ultralytics_items(plan: FreezePlan) -> list[int | str] | None:
    items: list[int | str] = []
    for pre in compress(plan):
        if not (pre.startswith("model.") and pre.endswith(".")):
            return None  # a single parameter: Ultralytics always appends "." to its entries
        body = pre[len("model.") : -1]
        items.append(int(body) if body.isdigit() else body)
    return items


def export(plan: FreezePlan, fmt: str, sha256: str | None = None, schedule: sched.Schedule | None = None) -> Export:
    if (why := sched.refusal(fmt, schedule)) is not None:
        return Export(fmt, "", False, why)
    if fmt == "yolov5":
        return yolov5_args(plan)
    if fmt == "python":
        return Export("python", "freeze = " + _pylist(compress(plan)) + "\n", True)
    if fmt == "ultralytics":
        items = _ultralytics_items(plan)
        if items is None:
            return Export(
                "ultralytics",
                "",
                False,
                "Ultralytics' freeze= names layers or modules, not single parameters; "
                f"formats that carry this plan: {', '.join(carriers(plan))}",
            )
        note = "Ultralytics also always freezes '.dfl' parameters" if plan.info.kind == "ultralytics" else ""
        return Export("ultralytics", "freeze=" + _pylist(items) + "\n", True, note)
    if fmt == "json":
        return Export("json", json.dumps(plan_document(plan, sha256, schedule), indent=2) + "\n", True)
    if fmt == "names":
        return Export("names", "".join(n + "\n" for n in plan.ordered_frozen), True)
    raise PlanError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")


def _pylist(items: Sequence[int | str]) -> str:
    return "[" + ", ".join(repr(x) for x in items) + "]"


def plan_document(
    plan: FreezePlan, sha256: str | None = None, schedule: sched.Schedule | None = None
) -> dict[str, Any]:
    c = plan.counts
    y = yolov5_args(plan)
    order = [p.name for p in plan.info.parameters]
    staged = {} if schedule is None or not schedule.staged else {"schedule": sched.schedule_json(schedule, order)}
    return staged | {
        "format": PLAN_FILE_TAG,
        "version": 1,
        "checkpoint": {
            "file": os.path.basename(plan.info.path),
            "sha256": sha256 if sha256 is not None else plan.info.sha256(),
            "model_class": plan.info.model_class,
            "parameters": len(plan.info.parameters),
        },
        "prefixes": compress(plan),
        "frozen": plan.ordered_frozen,
        "yolov5": y.text or None,
        "counts": {
            "total_params": c.total_params,
            "trainable_params": c.trainable_params,
            "frozen_params": c.frozen_params,
            "frozen_tensors": c.frozen_tensors,
            "total_tensors": c.total_tensors,
        },
    }


# ---------------------------------------------------------------------------------------------
# imports


@dataclass(frozen=True)
class ImportedPlan:
    plan: FreezePlan
    format: str
    warnings: tuple[str, ...] = ()
    schedule: sched.Schedule | None = None  # a json plan file's phases (the plan is phase 0)


def detect_format(text: str) -> str:
    s = text.lstrip()
    if s.startswith("{"):
        return "json"
    if s.startswith("--freeze") or re.fullmatch(r"[\d\s]+", s.strip() or "x"):
        return "yolov5"
    m = re.match(r"(freeze(\s*)=\s*)?\[", s)
    if m:
        body = s[m.end() :].lstrip()
        if body.startswith(("'model.", '"model.')):
            return "python"
        if body[:1].isdigit() or body.startswith(("'", '"')):
            return "ultralytics"  # layer numbers or module paths without the model. prefix
        # an empty list: our writers differ in spacing (python "freeze = [", ultralytics "freeze=[")
        return "ultralytics" if m.group(1) and not m.group(2) else "python"
    return "names"


def import_plan(info: ModelInfo, text: str, fmt: str | None = None) -> ImportedPlan:
    """Parse an exported plan in any format back into a plan for ``info``.

    Every layer number is checked against the layers the file holds (out of range: PlanError with
    the valid range) and nothing is built in proportion to a number in the text, only to its length.
    """
    fmt = fmt or detect_format(text)
    if fmt == "yolov5":
        return ImportedPlan(_from_yolov5(info, text), fmt)
    if fmt in ("python", "ultralytics"):
        return ImportedPlan(_from_list(info, text, fmt), fmt)
    if fmt == "json":
        plan, warnings, schedule = _from_json(info, text)
        return ImportedPlan(plan, fmt, warnings, schedule)
    if fmt == "names":
        lines = (ln.strip() for ln in io.StringIO(text))  # one line at a time: no list of 16 MiB of lines
        return ImportedPlan(_by_names(info, (ln for ln in lines if ln and not ln.startswith("#"))), fmt)
    raise PlanError(f"unknown format {_short(fmt)!r}; use one of: {', '.join(FORMATS)}")


def _from_yolov5(info: ModelInfo, text: str) -> FreezePlan:
    """``--freeze 10`` or ``--freeze 0 1 2``: train.py's own argument."""
    body = text.strip().removeprefix("--freeze").replace("=", " ")
    tokens = body.split()
    if len(tokens) > MAX_PLAN_ENTRIES:
        raise PlanError(f"yolov5 plan: {len(tokens):,} numbers; this model has {len(info.layers)} layers")
    nums = [_plan_int(x) for x in tokens]
    return plan_for_freeze_numbers(info, nums, "yolov5 plan: --freeze")


def _from_list(info: ModelInfo, text: str, fmt: str) -> FreezePlan:
    """A Python list literal: parameter-name prefixes (python) or layer numbers / module paths (ultralytics)."""
    body = re.sub(r"^\s*freeze\s*=\s*", "", text.strip())
    if body.count(",") >= MAX_PLAN_ENTRIES:
        raise PlanError(f"{fmt} plan: more than {MAX_PLAN_ENTRIES:,} entries; not a plan for this model")
    try:
        items = ast.literal_eval(body)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise PlanError(f"{fmt} plan: not a list literal") from None
    if not isinstance(items, list):
        raise PlanError(f"{fmt} plan: expected a list")
    if fmt != "ultralytics":
        return plan_from_prefixes(info, [str(x) for x in items])
    ints = [x for x in items if isinstance(x, int) and not isinstance(x, bool)]
    if len(items) == 1 and ints:
        _check_first_n(info, ints[0], "ultralytics plan: freeze=[N]")
        return FreezePlan(info, first_n_names(info, ints[0]))
    if ints:
        _check_layers(info, ints, "ultralytics plan: freeze=")
    return plan_from_prefixes(info, [f"model.{x}." for x in items])


def _from_json(info: ModelInfo, text: str) -> tuple[FreezePlan, tuple[str, ...], sched.Schedule | None]:
    """Our own plan file; a warning when it was made for a file of another name."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(f"plan file is not valid JSON (line {e.lineno})") from None
    except RecursionError:
        raise PlanError("plan file is not a plan: JSON nested too deeply") from None
    except (ValueError, MemoryError):  # e.g. an integer of 5,000 digits
        raise PlanError("plan file is not valid JSON (a value is out of range)") from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FILE_TAG:
        raise PlanError('not a yolofreeze plan file (missing "format": "yolofreeze-plan")')
    schedule = sched.schedule_from_json(info, doc["schedule"]) if "schedule" in doc else None
    names = sorted(schedule.phases[0].frozen) if schedule else doc.get("frozen")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PlanError('plan file: "frozen" must be a list of parameter names')
    ck = doc.get("checkpoint") or {}
    made_for = ck.get("file") if isinstance(ck, dict) else None
    n_params = ck.get("parameters") if isinstance(ck, dict) else None
    other = bool(made_for and made_for != os.path.basename(info.path)) or (
        isinstance(n_params, int) and n_params != len(info.parameters)
    )
    prefixes = doc.get("prefixes")
    if other and isinstance(prefixes, list) and all(isinstance(x, str) and x for x in prefixes):
        # Another model size (yolov5s -> yolov5m): its names differ (more C3 bottlenecks), its
        # layers do not; the file's prefixes are the plan as the user made it.
        plan, notes = _by_prefixes(info, prefixes, str(made_for or "another checkpoint"))
        return plan, notes, None  # (a schedule names parameters of its own checkpoint: refused above)
    warnings: tuple[str, ...] = ()
    if made_for and made_for != os.path.basename(info.path):
        warnings = (f"plan was made for {_short(str(made_for), 120)}; applied by parameter name",)
    return _by_names(info, names), warnings, schedule


def _by_prefixes(info: ModelInfo, prefixes: list[str], made_for: str) -> tuple[FreezePlan, tuple[str, ...]]:
    """Apply a plan file's prefix list (train.py's substring rule) and say what matched."""
    if len(prefixes) > MAX_PLAN_ENTRIES:
        raise PlanError(f"plan file: more than {MAX_PLAN_ENTRIES:,} prefixes; not a plan for this model")
    plan = plan_from_prefixes(info, prefixes)
    unmatched = [x for x in prefixes if not matched_names(info, [x])]
    if prefixes and len(unmatched) == len(prefixes):
        raise PlanError(
            f"plan made for {_short(made_for, 120)}: none of its {len(prefixes)} prefixes match this checkpoint "
            f"(first: {_short(prefixes[0], 80)})"
        )
    how = "layer" if all(_LAYER_RX.fullmatch(x) for x in prefixes) else "prefix"
    note = f"applied by {how}: {layer_ranges(prefixes) or 'nothing frozen'} (from {_short(made_for, 120)}); "
    note += f"{len(unmatched)} {'name' if len(unmatched) == 1 else 'names'} unmatched"
    if unmatched:
        note += f" ({_short(', '.join(unmatched[:3]), 120)}{' …' if len(unmatched) > 3 else ''})"
    return plan, (note,)


def layer_ranges(prefixes: Sequence[str], most: int = 4) -> str:
    """``model.0.``…``model.9.`` as ``model.0.-model.9.``; other prefixes as they are, the first few."""
    parts: list[str] = []
    run: list[int] = []

    def flush() -> None:
        if run:
            a, b = run[0], run[-1]
            parts.append(f"model.{a}." if a == b else f"model.{a}.-model.{b}.")
            run.clear()

    for x in prefixes:
        m = _LAYER_RX.fullmatch(x)
        if m and len(m.group(1)) <= _MAX_DIGITS:
            k = int(m.group(1))
            if run and k != run[-1] + 1:
                flush()
            run.append(k)
        else:
            flush()
            parts.append(x)
    flush()
    shown = ", ".join(parts[:most])
    return shown + (f" … ({len(parts) - most} more)" if len(parts) > most else "")


def _plan_int(token: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", token):
        raise PlanError("yolov5 plan: --freeze takes whole numbers")
    if len(token.lstrip("+-")) > _MAX_DIGITS:
        raise PlanError(f"yolov5 plan: --freeze {_short(token)} is out of range for this model")
    return int(token)


def _by_names(info: ModelInfo, names: Iterable[str]) -> FreezePlan:
    known = {p.name for p in info.parameters}
    frozen: set[str] = set()
    first_unknown: str | None = None
    n_unknown = 0
    for n in names:
        if n in known:
            frozen.add(n)
        else:
            n_unknown += 1
            if first_unknown is None:
                first_unknown = n
    if first_unknown is not None:
        more = f" and {n_unknown - 1} more" if n_unknown > 1 else ""
        raise PlanError(f"plan names a parameter this checkpoint does not have: {_short(first_unknown, 120)}{more}")
    return FreezePlan(info, frozenset(frozen))


def load_plan_file(info: ModelInfo, path: str | os.PathLike[str]) -> ImportedPlan:
    """Read a plan file through yolofreeze.core.safeio: a FIFO, a device or a directory is refused before a
    byte is read, and nothing over MAX_PLAN_BYTES is read at all."""
    p = Path(path)
    try:
        data = read_limited(p, MAX_PLAN_BYTES)
    except FileNotFoundError:
        raise PlanError(f"{p}: no such plan file") from None
    except UnsafePathError as e:
        raise PlanError(f"{p}: not a plan file: {e.strerror}") from None
    except OSError as e:
        raise PlanError(f"{p}: cannot read plan file ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PlanError(f"{p}: not a plan file: not UTF-8 text (byte {e.start})") from None
    return import_plan(info, text)
