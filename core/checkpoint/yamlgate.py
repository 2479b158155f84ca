"""The model-YAML gate: the one door every yolov5 model build goes through.

yolov5's ``parse_model`` ``eval()``s the ``activation`` string, every string module name and
every string argument of a layer. A checkpoint whose pickle is spotless can therefore carry code
in its YAML that runs the moment anything builds the model. Here the YAML is data: it is checked
against a grammar (the shapes yolov5's own YAMLs use) and a fresh dict is rebuilt only from values
the grammar accepted, so the strings yolov5 later ``eval()``s are our own constants, never the
file's. Torch-free and yolov5-free on purpose: the reader runs it on every file it opens.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

from yolofreeze.core.errors import HostileCheckpointError

# Classes the installed yolov5 defines in models/common.py, models/yolo.py and
# models/experimental.py that build a layer from numbers. Left out on purpose: DetectMultiBackend
# (opens and unpickles a weights file), AutoShape, Detections, the *Model classes and Ensemble
# (whole models, not layers). tests/core/test_yaml_gate.py checks each name against those files.
YOLOV5_MODULES: tuple[str, ...] = (
    "Conv",
    "DWConv",
    "DWConvTranspose2d",
    "TransformerLayer",
    "TransformerBlock",
    "Bottleneck",
    "BottleneckCSP",
    "CrossConv",
    "C3",
    "C3x",
    "C3TR",
    "C3SPP",
    "C3Ghost",
    "SPP",
    "SPPF",
    "Focus",
    "GhostConv",
    "GhostBottleneck",
    "Contract",
    "Expand",
    "Concat",
    "Proto",
    "Classify",
    "Detect",
    "Segment",
    "Sum",
    "MixConv2d",
)
# torch.nn layers yolov5's YAMLs (and parse_model's own special cases) use.
TORCH_MODULES: tuple[str, ...] = (
    "nn.Upsample",
    "nn.MaxPool2d",
    "nn.ZeroPad2d",
    "nn.BatchNorm2d",
    "nn.ConvTranspose2d",
    "nn.Conv2d",
    "nn.Identity",
    "nn.AvgPool2d",
    "nn.AdaptiveAvgPool2d",
)
MODULES: tuple[str, ...] = YOLOV5_MODULES + TORCH_MODULES
# ``activation: nn.X(...)`` may name only these (torch.nn classes without side effects).
ACTIVATIONS: tuple[str, ...] = (
    "SiLU",
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "Hardswish",
    "Hardsigmoid",
    "Mish",
    "Sigmoid",
    "Tanh",
    "GELU",
    "ELU",
    "CELU",
    "SELU",
    "Identity",
)
_ACTIVATION_KEYWORDS = ("inplace", "negative_slope", "alpha", "min_val", "max_val")
# String arguments parse_model may see: 'nc' and 'anchors' evaluate to its locals, 'None' to
# None, 'nearest'/'bilinear' stay strings (NameError, suppressed). Nothing else reaches eval.
ARG_STRINGS: tuple[str, ...] = ("nc", "anchors", "None", "nearest", "bilinear")

MAX_ROWS = 1_000  # official YAMLs have fewer than 40 layers
MAX_NUMBER = 1_000  # a layer's repeat count
MAX_EXPANDED = 10_000  # modules after depth_multiple: bounds what a build allocates
MAX_FROM = 16
MAX_ARGS = 16
MAX_INT = 65_536  # channels, kernel sizes, ...: official values are at most 1280
MAX_NC = 100_000
MAX_MULTIPLE = 4.0
MAX_ANCHOR_LEVELS = 8
MAX_ANCHORS_PER_LEVEL = 16
MAX_TEXT = 200  # longest string the gate will parse
MAX_PROBLEMS = 20  # a hostile file gets its first few problems named, not a flood
_SHOWN = 60
_NAME = re.compile(r"[A-Za-z0-9_.\-]{0,64}\Z")
_KNOWN_KEYS = ("nc", "depth_multiple", "width_multiple", "anchors", "backbone", "head", "activation", "ch", "inplace")


@dataclass(frozen=True)
class YamlProblem:
    """One value the grammar refused: where (``head[3].module``), which layer, what it said."""

    key: str
    layer: int | None
    text: str  # the offending value, escaped and truncated: safe to print
    reason: str

    def describe(self) -> str:
        where = f"{self.key} (layer {self.layer})" if self.layer is not None else self.key
        return f"{where}: {self.reason}: {self.text}"


@dataclass(frozen=True)
class YamlVerdict:
    problems: tuple[YamlProblem, ...]
    normalised: dict[str, Any] | None  # None whenever there is a problem

    @property
    def ok(self) -> bool:
        return not self.problems


def shown(value: object) -> str:
    """A short, escaped rendering of a refused value (no control characters, bounded length)."""
    if isinstance(value, str):
        cut = value[:_SHOWN]
        return repr(cut) + (f"… ({len(value)} chars)" if len(value) > _SHOWN else "")
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        # repr of an int over 4,300 digits raises; such a value is shown by its size alone
        return repr(value) if value.bit_length() <= 64 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, dict):
        return f"<dict of {len(value)} keys>"
    return f"<{type(value).__name__}>"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[YamlProblem] = []

    def bad(self, key: str, value: object, reason: str, layer: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(YamlProblem(key, layer, shown(value), reason))

    # -- scalars -------------------------------------------------------------------------------

    def integer(self, key: str, v: object, lo: int, hi: int, layer: int | None = None) -> int | None:
        if type(v) is not int:  # bool and int subclasses are not numbers here
            self.bad(key, v, "not an integer", layer)
            return None
        if not lo <= v <= hi:
            self.bad(key, v, f"out of range {lo}..{hi}", layer)
            return None
        return int(v)

    def number(self, key: str, v: object, lo: float, hi: float, layer: int | None = None) -> int | float | None:
        if type(v) is int:
            if v.bit_length() > 64 or not lo <= v <= hi:
                self.bad(key, v, f"out of range {lo:g}..{hi:g}", layer)
                return None
            return int(v)
        if type(v) is float:
            if not math.isfinite(v) or not lo <= v <= hi:
                self.bad(key, v, f"out of range {lo:g}..{hi:g}", layer)
                return None
            return float(v)
        self.bad(key, v, "not a number", layer)
        return None

    # -- top level -----------------------------------------------------------------------------

    def model(self, d: object) -> dict[str, Any] | None:
        if not isinstance(d, dict):
            self.bad("(top)", d, "the model YAML is not a mapping")
            return None
        # each step reports in the order a reader meets the keys; ``out`` keeps yolov5's key order
        self.keys(d)
        out = self.sizes(d)
        if "anchors" in d:
            out["anchors"] = self.anchors(d["anchors"])
        self.sections(d, out)
        self.options(d, out)
        return None if self.problems else out

    def keys(self, d: dict[Any, Any]) -> None:
        for k in d:
            if type(k) is not str:
                self.bad("(top)", k, "a key that is not a string")
            elif k not in _KNOWN_KEYS:
                self.unknown(k, d[k])
        for k in ("nc", "depth_multiple", "width_multiple", "anchors", "backbone", "head"):
            if k not in d:
                self.bad(k, None, "missing")

    def sizes(self, d: dict[Any, Any]) -> dict[str, Any]:
        """The class count and the two scale factors."""
        out: dict[str, Any] = {}
        if "nc" in d:
            out["nc"] = self.integer("nc", d["nc"], 1, MAX_NC)
        for k in ("depth_multiple", "width_multiple"):
            if k in d:
                v = self.number(k, d[k], 0.0, MAX_MULTIPLE)
                if v is not None and v <= 0:
                    self.bad(k, d[k], "must be more than 0")
                out[k] = v
        return out

    def sections(self, d: dict[Any, Any], out: dict[str, Any]) -> None:
        """The backbone and head rows, then what they expand to under ``depth_multiple``."""
        rows: list[Any] = []
        for section in ("backbone", "head"):
            if section in d:
                out[section] = self.rows(section, d[section], len(rows))
                rows += out[section] or []
        if len(rows) > MAX_ROWS:
            self.bad("backbone+head", len(rows), f"more than {MAX_ROWS} layers")
        self.expanded(rows, out.get("depth_multiple"))

    def options(self, d: dict[Any, Any], out: dict[str, Any]) -> None:
        """The optional keys: activation, input channels, inplace."""
        if d.get("activation") is not None:
            out["activation"] = self.activation(d["activation"])
        if "ch" in d:
            out["ch"] = self.integer("ch", d["ch"], 1, 64)
        if "inplace" in d:
            if type(d["inplace"]) is bool:
                out["inplace"] = bool(d["inplace"])
            else:
                self.bad("inplace", d["inplace"], "not true/false")

    def unknown(self, key: str, v: object) -> None:
        """Keys yolov5 does not read are dropped from the build; only plain values are tolerated."""
        if not _NAME.match(key):
            self.bad(shown(key), None, "an unknown key with an odd name")
        elif isinstance(v, str):
            if not _NAME.match(v):
                self.bad(key, v, "an unknown key holding text that is not a plain name")
        elif not (v is None or type(v) in (bool, int, float)) or (type(v) is int and v.bit_length() > 64):
            self.bad(key, v, "an unknown key holding something other than a plain value")

    def anchors(self, v: object) -> int | list[list[int | float]] | None:
        if type(v) is int:
            return self.integer("anchors", v, 1, MAX_ANCHORS_PER_LEVEL)
        if not isinstance(v, list) or not 1 <= len(v) <= MAX_ANCHOR_LEVELS:
            self.bad("anchors", v, f"not an anchor count or a list of 1..{MAX_ANCHOR_LEVELS} levels")
            return None
        out: list[list[int | float]] = []
        for i, level in enumerate(v):
            key = f"anchors[{i}]"
            if not isinstance(level, list) or not 2 <= len(level) <= 2 * MAX_ANCHORS_PER_LEVEL or len(level) % 2:
                self.bad(key, level, "not a list of width,height pairs")
                return None
            vals = [self.number(f"{key}[{j}]", x, 0.0, 1e6) for j, x in enumerate(level)]
            if any(x is None for x in vals):
                return None
            out.append([x for x in vals if x is not None])
        if len({len(level) for level in out}) != 1:
            self.bad("anchors", v, "levels with different anchor counts")
            return None
        return out

    # -- layers --------------------------------------------------------------------------------

    def rows(self, section: str, v: object, first: int) -> list[list[Any]] | None:
        if not isinstance(v, list) or not v:
            self.bad(section, v, "not a non-empty list of layers")
            return None
        if first + len(v) > MAX_ROWS:
            self.bad(section, len(v), f"more than {MAX_ROWS} layers")
            return None
        out: list[list[Any]] = []
        for j, row in enumerate(v):
            i = first + j
            key = f"{section}[{j}]"
            if not isinstance(row, list) or len(row) != 4:
                self.bad(key, row, "not a [from, number, module, args] row", i)
                continue
            f, n, m, a = row
            out.append(
                [
                    self.from_(f"{key}.from", f, i),
                    self.integer(f"{key}.number", n, 1, MAX_NUMBER, i),
                    self.module(f"{key}.module", m, i),
                    self.args(f"{key}.args", a, i),
                ]
            )
        return out

    def from_(self, key: str, v: object, i: int) -> int | list[int] | None:
        lo, hi = (-1, -1) if i == 0 else (-i, i - 1)  # ch has one entry per earlier layer
        if isinstance(v, list):
            if not 1 <= len(v) <= MAX_FROM:
                self.bad(key, v, f"not a list of 1..{MAX_FROM} layer indices", i)
                return None
            vals = [self.integer(key, x, lo, hi, i) for x in v]
            return None if any(x is None for x in vals) else [x for x in vals if x is not None]
        return self.integer(key, v, lo, hi, i)

    def module(self, key: str, v: object, i: int) -> str | None:
        if type(v) is str and len(v) <= MAX_TEXT:
            for name in MODULES:
                if v == name:
                    return name  # our constant, not the file's string
        self.bad(key, v, "not an allowed module name", i)
        return None

    def args(self, key: str, v: object, i: int) -> list[Any] | None:
        if not isinstance(v, list) or len(v) > MAX_ARGS:
            self.bad(key, v, f"not a list of at most {MAX_ARGS} arguments", i)
            return None
        out: list[Any] = []
        for j, a in enumerate(v):
            k = f"{key}[{j}]"
            if type(a) is str:
                canon = next((s for s in ARG_STRINGS if a == s), None)
                if canon is None:
                    self.bad(k, a, "not an allowed argument (yolov5 would eval it)", i)
                out.append(canon)
            elif isinstance(a, list):  # e.g. ZeroPad2d's padding; nested strings are never eval'd
                if len(a) > MAX_ARGS:
                    self.bad(k, a, "too long a list argument", i)
                    continue
                out.append([self.literal(f"{k}[{m}]", x, i) for m, x in enumerate(a)])
            else:
                out.append(self.literal(k, a, i))
        return out

    def literal(self, key: str, v: object, i: int) -> int | float | bool | None:
        if v is None or type(v) is bool:
            return v
        if type(v) in (int, float):
            return self.number(key, v, -MAX_INT, MAX_INT, i)
        self.bad(key, v, "not a number, true/false or null", i)
        return None

    def expanded(self, rows: list[Any], gd: object) -> None:
        if not isinstance(gd, (int, float)) or not rows:
            return
        total = 0
        for row in rows:
            n = row[1] if isinstance(row, list) and len(row) == 4 else None
            if isinstance(n, int):
                total += max(round(n * float(gd)), 1) if n > 1 else n  # parse_model's depth gain
        if total > MAX_EXPANDED:
            self.bad("depth_multiple", gd, f"the layers would repeat into {total:,} modules (max {MAX_EXPANDED:,})")

    # -- activation ----------------------------------------------------------------------------

    def activation(self, v: object) -> str | None:
        if type(v) is not str or len(v) > MAX_TEXT:
            self.bad("activation", v, f"not an nn.X(...) call of at most {MAX_TEXT} characters")
            return None
        try:
            tree = ast.parse(v, mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self.bad("activation", v, "not an nn.X(...) call")
            return None
        call = tree.body
        if (
            not isinstance(call, ast.Call)
            or not isinstance(call.func, ast.Attribute)
            or not isinstance(call.func.value, ast.Name)
            or call.func.value.id != "nn"
            or len(call.args) + len(call.keywords) > 4
        ):
            self.bad("activation", v, "not an nn.X(literal, ...) call")
            return None
        name = next((a for a in ACTIVATIONS if a == call.func.attr), None)
        if name is None:
            self.bad("activation", v, f"not an allowed activation ({', '.join(ACTIVATIONS)})")
            return None
        parts: list[str] = []
        for node in call.args:
            c = self.constant(node)
            if c is None:
                self.bad("activation", v, "an argument that is not a number or true/false")
                return None
            parts.append(c)
        for kw in call.keywords:
            kwname = next((k for k in _ACTIVATION_KEYWORDS if k == kw.arg), None)
            c = self.constant(kw.value)
            if kwname is None or c is None:
                self.bad("activation", v, "a keyword argument that is not allowed")
                return None
            parts.append(f"{kwname}={c}")
        return f"nn.{name}({', '.join(parts)})"  # rebuilt from parsed values: our text, not the file's

    @staticmethod
    def constant(node: ast.expr) -> str | None:
        """The literal's canonical source text, for a number or bool constant (optionally negated)."""
        neg = False
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            neg, node = True, node.operand
        if not isinstance(node, ast.Constant):
            return None
        c = node.value
        if type(c) is bool and not neg:
            return "True" if c else "False"
        if type(c) is int and abs(c) <= MAX_INT:
            return str(-c if neg else c)
        if type(c) is float and math.isfinite(c) and abs(c) <= MAX_INT:
            return repr(-c if neg else c)
        return None


def check_model_yaml(yaml: object) -> YamlVerdict:
    """Every problem with a model YAML, and (only when there are none) the normalised copy."""
    checker = _Checker()
    normalised = checker.model(yaml)
    problems = tuple(checker.problems)
    return YamlVerdict(problems, None if problems else normalised)


def gated_cfg(yaml: object, where: str = "") -> dict[str, Any]:
    """The only YAML a model may be built from: the normalised copy, or HostileCheckpointError."""
    verdict = check_model_yaml(yaml)
    if verdict.normalised is None:
        first = verdict.problems[0].describe()
        more = f" (and {len(verdict.problems) - 1} more)" if len(verdict.problems) > 1 else ""
        prefix = f"{where}: " if where else ""
        raise HostileCheckpointError(f"{prefix}refusing to build the model: its YAML {first}{more}")
    return verdict.normalised
