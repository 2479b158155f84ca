"""Freeze plans: the exact set of frozen parameters, with YOLOv5 train.py's semantics.

train.py freezes a parameter when any prefix in its list is a *substring* of the parameter's
name; ``--freeze N`` means prefixes ``model.0.`` … ``model.{N-1}.``, two or more numbers are an
explicit list of layers. A plan here is a set of parameter names, so it can also hold single
modules or single parameters; each export format says what it cannot express.
"""

from __future__ import annotations

import ast
import json
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.errors import PlanError

FORMATS = ("yolov5", "python", "ultralytics", "json", "names")
PRESETS_HELP = "none, backbone, all, first:N, layers:i,j,k"
PLAN_FILE_TAG = "yolofreeze-plan"


def yolov5_prefixes(freeze: Sequence[int]) -> list[str]:
    """The prefix list train.py builds from its ``--freeze`` numbers."""
    if not freeze:
        return []
    layers = list(freeze) if len(freeze) > 1 else list(range(freeze[0]))
    return [f"model.{x}." for x in layers]


def matches(name: str, prefixes: Iterable[str]) -> bool:
    """train.py's rule: frozen when any prefix occurs anywhere in the name."""
    return any(x in name for x in prefixes)


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

    def is_frozen(self, name: str) -> bool:
        return name in self.frozen

    @property
    def ordered_frozen(self) -> list[str]:
        return [p.name for p in self.info.parameters if p.name in self.frozen]


# ---------------------------------------------------------------------------------------------
# presets


def plan_from_prefixes(info: ModelInfo, prefixes: Iterable[str]) -> FreezePlan:
    return FreezePlan(info, frozenset(matched_names(info, list(prefixes))))


def detect_layer_index(info: ModelInfo) -> int | None:
    """Index of the output (Detect/Segment) layer: the last top-level layer."""
    return info.layers[-1].index if info.layers else None


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
        return plan_from_prefixes(info, yolov5_prefixes([n]))
    if s == "all":
        last = detect_layer_index(info)
        if last is None:
            raise PlanError("all preset: this checkpoint has no numbered layers (model.N.)")
        return plan_from_prefixes(info, yolov5_prefixes([last]))
    if s.startswith("first:"):
        n = _int(s[6:], spec)
        if n < 0:
            raise PlanError(f"preset {spec!r}: N must be 0 or more")
        return plan_from_prefixes(info, yolov5_prefixes([n]))
    if s.startswith("layers:"):
        idx = [_int(x, spec) for x in s[7:].split(",") if x.strip()]
        if not idx:
            raise PlanError(f"preset {spec!r}: name at least one layer")
        return plan_from_prefixes(info, [f"model.{i}." for i in idx])
    raise PlanError(f"unknown preset {spec!r}; use one of: {PRESETS_HELP}")


def _int(text: str, spec: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise PlanError(f"preset {spec!r}: {text.strip()!r} is not a whole number") from None


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


def yolov5_args(plan: FreezePlan) -> Export:
    """train.py ``--freeze`` arguments, when the plan is whole layers."""
    layers = whole_layers(plan)
    if layers is None:
        parts = ", ".join(compress(plan)[:3])
        return Export(
            "yolov5",
            "",
            False,
            f"--freeze takes whole layers only; this plan freezes parts of layers ({parts} …). "
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


def export(plan: FreezePlan, fmt: str, sha256: str | None = None) -> Export:
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
        return Export("json", json.dumps(plan_document(plan, sha256), indent=2) + "\n", True)
    if fmt == "names":
        return Export("names", "".join(n + "\n" for n in plan.ordered_frozen), True)
    raise PlanError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")


def _pylist(items: Sequence[int | str]) -> str:
    return "[" + ", ".join(repr(x) for x in items) + "]"


def plan_document(plan: FreezePlan, sha256: str | None = None) -> dict[str, Any]:
    c = plan.counts
    y = yolov5_args(plan)
    return {
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


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a file so that a reader never sees half of it, and a failure leaves the old one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# imports


@dataclass(frozen=True)
class ImportedPlan:
    plan: FreezePlan
    format: str
    warnings: tuple[str, ...] = ()


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
    """Parse an exported plan in any format back into a plan for ``info``."""
    fmt = fmt or detect_format(text)
    warnings: list[str] = []
    if fmt == "yolov5":
        body = text.strip().removeprefix("--freeze").replace("=", " ")
        try:
            nums = [int(x) for x in body.split()]
        except ValueError:
            raise PlanError("yolov5 plan: --freeze takes whole numbers") from None
        return ImportedPlan(plan_from_prefixes(info, yolov5_prefixes(nums)), fmt)
    if fmt in ("python", "ultralytics"):
        body = re.sub(r"^\s*freeze\s*=\s*", "", text.strip())
        try:
            items = ast.literal_eval(body)
        except (ValueError, SyntaxError):
            raise PlanError(f"{fmt} plan: not a list literal") from None
        if not isinstance(items, list):
            raise PlanError(f"{fmt} plan: expected a list")
        if fmt == "ultralytics":
            if len(items) == 1 and isinstance(items[0], int):
                prefixes = [f"model.{x}." for x in range(items[0])]
            else:
                prefixes = [f"model.{x}." for x in items]
        else:
            prefixes = [str(x) for x in items]
        return ImportedPlan(plan_from_prefixes(info, prefixes), fmt)
    if fmt == "json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise PlanError(f"plan file is not valid JSON (line {e.lineno})") from None
        if not isinstance(doc, dict) or doc.get("format") != PLAN_FILE_TAG:
            raise PlanError('not a yolofreeze plan file (missing "format": "yolofreeze-plan")')
        names = doc.get("frozen")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PlanError('plan file: "frozen" must be a list of parameter names')
        ck = doc.get("checkpoint") or {}
        if isinstance(ck, dict) and ck.get("file") and ck.get("file") != os.path.basename(info.path):
            warnings.append(f"plan was made for {ck.get('file')}; applied by parameter name")
        return ImportedPlan(_by_names(info, names), fmt, tuple(warnings))
    if fmt == "names":
        names = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        return ImportedPlan(_by_names(info, names), fmt)
    raise PlanError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")


def _by_names(info: ModelInfo, names: Sequence[str]) -> FreezePlan:
    known = {p.name for p in info.parameters}
    unknown = [n for n in names if n not in known]
    if unknown:
        more = f" and {len(unknown) - 1} more" if len(unknown) > 1 else ""
        raise PlanError(f"plan names a parameter this checkpoint does not have: {unknown[0]}{more}")
    return FreezePlan(info, frozenset(names))


def load_plan_file(info: ModelInfo, path: str | os.PathLike[str]) -> ImportedPlan:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{p}: no such plan file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError(f"{p}: cannot read plan file ({e})") from None
    return import_plan(info, text)
