"""What the checkpoint reader returns: the model's structure, as plain frozen dataclasses.

``ModelInfo`` is one checkpoint's module tree, parameters in ``named_parameters()`` order,
buffers, YAML layers and metadata; ``RawCheckpoint`` is what a container reader hands to the
interpretation step (the unpickled root, every global seen, where each storage's bytes are).
No torch, no reading here: the reader (``reader.py``) and the interpretation (``interpret.py``)
both build on these types, so neither needs the other's names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from yolofreeze.core.checkpoint.safepickle import TensorMeta
from yolofreeze.core.checkpoint.yamlgate import YamlProblem
from yolofreeze.core.errors import HostileCheckpointError


@dataclass(frozen=True)
class TensorLocation:
    """Where a tensor's bytes are: a file region, read on demand (the launcher needs them)."""

    member: str | None  # zip entry name, or None for a plain file region
    data_start: int  # byte offset of the storage (legacy/safetensors) within the file or member
    storage_nbytes: int
    storage_dtype: str
    offset: int  # element offset into the storage
    stride: tuple[int, ...]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    numel: int
    nbytes: int
    location: TensorLocation | None = None


@dataclass(frozen=True)
class ModuleNode:
    path: str  # "" for the root, then "model", "model.0", "model.0.conv" ...
    type: str  # class name, e.g. "Conv"
    qualname: str  # e.g. "models.common.Conv"
    children: tuple[str, ...]  # child module paths, in order
    parameters: tuple[str, ...]  # full names of this module's own parameters


@dataclass(frozen=True)
class LayerInfo:
    """One top-level layer (``model.<index>.``), with what the YAML says of it."""

    index: int
    type: str
    from_: tuple[int, ...]
    repeats: int
    args: tuple[Any, ...]
    section: str  # "backbone", "head" or "" when no YAML
    prefix: str  # "model.<index>."


@dataclass(frozen=True)
class Metadata:
    epoch: int | None = None
    nc: int | None = None
    names: tuple[str, ...] = ()
    stride: tuple[float, ...] = ()
    date: str | None = None
    training_options: dict[str, Any] = field(default_factory=dict)
    has_optimizer: bool = False
    has_ema: bool = False
    top_level_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    path: str
    file_size: int
    container: str  # "zip", "legacy", "safetensors"
    kind: str  # "yolov5", "ultralytics", "state_dict", "unknown"
    source: str  # where the network was found: "model", "ema", "state_dict", ...
    model_class: str
    modules: tuple[ModuleNode, ...]
    parameters: tuple[TensorInfo, ...]
    buffers: tuple[TensorInfo, ...]
    layers: tuple[LayerInfo, ...]
    yaml: dict[str, Any] | None
    metadata: Metadata
    globals: tuple[str, ...]
    suspicious: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    # what the model-YAML gate refused: yolov5 would eval() these when building the model
    yaml_problems: tuple[YamlProblem, ...] = ()

    @property
    def hostile(self) -> bool:
        return bool(self.suspicious or self.yaml_problems)

    @property
    def hostile_reasons(self) -> tuple[str, ...]:
        """One short line per reason: each code-referencing global, then each refused YAML value."""
        return self.suspicious + tuple(f"model YAML {p.describe()}" for p in self.yaml_problems)

    @property
    def total_params(self) -> int:
        return sum(p.numel for p in self.parameters)

    @property
    def backbone_layers(self) -> int | None:
        """Number of backbone layers (10 for P5, 12 for P6), from the YAML when present."""
        if self.yaml and isinstance(self.yaml.get("backbone"), list):
            return len(self.yaml["backbone"])
        for layer in self.layers:  # no YAML: the backbone ends with the SPP(F) block
            if layer.type in ("SPPF", "SPP"):
                return layer.index + 1
        return None

    @property
    def detect_layer(self) -> LayerInfo | None:
        """The output (Detect/Segment) layer: the last top-level layer, None when there are none."""
        return self.layers[-1] if self.layers else None

    @property
    def detection_levels(self) -> int:
        """Output levels the model's YAML declares (3 for P5, 4 for P6; 3 when it does not say)."""
        y = self.yaml or {}
        anchors, head = y.get("anchors"), y.get("head")
        if isinstance(anchors, list) and anchors:
            return len(anchors)
        if isinstance(head, list) and head and isinstance(head[-1], list) and isinstance(head[-1][0], list):
            return len(head[-1][0])  # anchors given as a count: the Detect row's inputs are the levels
        return 3

    @cached_property
    def modules_by_path(self) -> dict[str, ModuleNode]:
        return {m.path: m for m in self.modules}

    @cached_property
    def subtree_parameters(self) -> dict[str, tuple[str, ...]]:
        """Every module path to the names of all parameters under it, in model order.

        Walks up the module tree from each parameter's owner (not over name prefixes, which is
        quadratic in a name's length): O(parameters x depth), and the readers bound the depth.
        """
        out: dict[str, list[str]] = {m.path: [] for m in self.modules}
        owner = {name: m.path for m in self.modules for name in m.parameters}
        parent: dict[str, str] = {}
        for m in self.modules:
            for c in m.children:
                parent.setdefault(c, m.path)
        for p in self.parameters:
            path: str | None = owner.get(p.name)
            for _ in range(len(out)):  # a bound even if a malformed tree had a cycle
                if path is None:
                    break
                out[path].append(p.name)
                path = parent.get(path) if path else None
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def layer_params(self) -> dict[int, int]:
        """Parameter count of each numbered layer: one pass over the subtree table, not one
        scan over every parameter per layer (20,000 layers took a minute that way)."""
        numel = {p.name: p.numel for p in self.parameters}
        under = self.subtree_parameters
        return {la.index: sum(numel[n] for n in under.get(la.prefix[:-1], ())) for la in self.layers}

    def module(self, path: str) -> ModuleNode | None:
        return self.modules_by_path.get(path)

    def require_safe(self, action: str) -> None:
        if self.suspicious:
            names = ", ".join(self.suspicious[:5])
            raise HostileCheckpointError(
                f"{self.path}: refusing to {action}: the file references code that could run when loaded ({names})"
            )
        if self.yaml_problems:
            more = len(self.yaml_problems) - 1
            raise HostileCheckpointError(
                f"{self.path}: refusing to {action}: its model YAML holds what yolov5 would run or "
                f"cannot build: {self.yaml_problems[0].describe()}" + (f" (and {more} more)" if more else "")
            )

    def sha256(self) -> str:
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()


@dataclass
class RawCheckpoint:
    """One container's contents before interpretation."""

    root: Any
    globals_seen: list[str]
    suspicious: list[str]
    container: str
    # for safetensors: flat name -> TensorMeta
    flat: dict[str, TensorMeta] | None = None
    locations: dict[str, tuple[str | None, int, int]] = field(default_factory=dict)
