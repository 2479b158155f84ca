"""The model as a tree of freezable nodes: sections, layers, modules, parameters.

The TUI shows this tree; each node stands for the set of parameters under it, so freezing a
node is ``plan.toggle(node.parameters)``. Counts, sizes and the per-node frozen share are
computed here once (or per plan, in O(node size)), never in a widget.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from yolofreeze.core.checkpoint.model import LayerInfo, ModelInfo, TensorInfo

SECTION_TITLES = {"backbone": "backbone", "head": "head", "": "layers"}


@dataclass(frozen=True)
class TreeEntry:
    key: str  # unique: "section:backbone", a module path, or a parameter name
    kind: str  # "section", "layer", "module", "parameter"
    title: str  # what the row starts with: "backbone", "0", "conv", "weight"
    type: str  # class name for modules and layers; "" for sections and parameters
    parameters: tuple[str, ...]  # every parameter under this node, in model order
    numel: int
    nbytes: int
    children: tuple[str, ...]
    parent: str | None
    layer: LayerInfo | None = None
    tensor: TensorInfo | None = None


@dataclass(frozen=True)
class ModelTree:
    info: ModelInfo
    entries: dict[str, TreeEntry]
    roots: tuple[str, ...]

    @cached_property
    def total_numel(self) -> int:
        return self.info.total_params

    @cached_property
    def _numel_of(self) -> dict[str, int]:
        return {p.name: p.numel for p in self.info.parameters}

    def frozen_numel(self, key: str, frozen: frozenset[str]) -> int:
        numel = self._numel_of
        return sum(numel[n] for n in self.entries[key].parameters if n in frozen)

    def share(self, key: str) -> float:
        """The node's share of all the model's parameters (0..1)."""
        return self.entries[key].numel / self.total_numel if self.total_numel else 0.0

    def ancestors(self, key: str) -> list[str]:
        out: list[str] = []
        parent = self.entries[key].parent
        while parent is not None:
            out.append(parent)
            parent = self.entries[parent].parent
        return out

    def walk(self, keys: tuple[str, ...] | None = None) -> Iterator[TreeEntry]:
        """Pre-order over the tree (or the subtrees at ``keys``)."""
        stack = list(reversed(self.roots if keys is None else keys))
        while stack:
            entry = self.entries[stack.pop()]
            yield entry
            stack.extend(reversed(entry.children))

    def matching(self, query: str) -> set[str]:
        """Keys of nodes whose name or type contains ``query`` (case-insensitive), with their
        ancestors, so a filtered view still shows where each match sits."""
        q = query.strip().lower()
        if not q:
            return set(self.entries)
        hits: set[str] = set()
        for e in self.entries.values():
            text = f"{e.key} {e.type}".lower()
            if e.kind == "section":
                text = e.title.lower()
            if q in text:
                hits.add(e.key)
                hits.update(self.ancestors(e.key))
        return hits

    def parameters_of(self, keys: list[str]) -> tuple[str, ...]:
        """The union of the parameters under ``keys``, in model order."""
        wanted: set[str] = set()
        for k in keys:
            wanted.update(self.entries[k].parameters)
        return tuple(p.name for p in self.info.parameters if p.name in wanted)


def model_tree(info: ModelInfo) -> ModelTree:
    """Sections (backbone/head, from the YAML) over layers ``model.N``; then modules and parameters.

    Without numbered layers (a plain or unknown network) the roots are the top module's children.
    """
    build = _TreeBuilder(info)
    roots = [build.section(section, layers) for section, layers in _sections(info.layers).items()]
    roots += build.outside_layers({n for k in roots for n in build.entries[k].parameters})
    return ModelTree(info, build.entries, tuple(roots))


def _sections(layers: tuple[LayerInfo, ...]) -> dict[str, list[LayerInfo]]:
    """The layers grouped by the YAML section they sit in, in order of first appearance."""
    sections: dict[str, list[LayerInfo]] = {}
    for la in layers:
        sections.setdefault(la.section, []).append(la)
    return sections


class _TreeBuilder:
    """Fills ``entries`` one node at a time; each step adds a node and everything under it."""

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.entries: dict[str, TreeEntry] = {}
        self.tensors = {p.name: p for p in info.parameters}
        self.under = info.subtree_parameters

    def size(self, names: tuple[str, ...]) -> tuple[int, int]:
        return sum(self.tensors[n].numel for n in names), sum(self.tensors[n].nbytes for n in names)

    def parameter(self, name: str, title: str, parent: str | None) -> str:
        t = self.tensors[name]
        self.entries[name] = TreeEntry(name, "parameter", title, "", (name,), t.numel, t.nbytes, (), parent, tensor=t)
        return name

    def module(self, path: str, parent: str | None, layer: LayerInfo | None) -> None:
        node = self.info.module(path)
        if node is None:
            return
        names = self.under.get(path, ())
        numel, nbytes = self.size(names)
        kids = [self.parameter(pname, pname.rsplit(".", 1)[-1], path) for pname in node.parameters]
        for child in node.children:
            if self.under.get(child):  # modules without parameters (SiLU, Upsample) cannot be frozen
                self.module(child, path, None)
                kids.append(child)
        title = str(layer.index) if layer is not None else path.rsplit(".", 1)[-1] or "(root)"
        kind = "layer" if layer else "module"
        self.entries[path] = TreeEntry(
            path, kind, title, node.type, names, numel, nbytes, tuple(kids), parent, layer=layer
        )

    def section(self, section: str, layers: list[LayerInfo]) -> str:
        key = f"section:{section or 'layers'}"
        kids = []
        for la in layers:
            path = la.prefix[:-1]
            if self.info.module(path) is None:
                continue
            self.module(path, key, la)
            kids.append(path)
        names = tuple(n for k in kids for n in self.entries[k].parameters)
        numel, nbytes = self.size(names)
        span = f"{layers[0].index}-{layers[-1].index}"
        title = SECTION_TITLES.get(section, section)
        self.entries[key] = TreeEntry(key, "section", title, span, names, numel, nbytes, tuple(kids), None)
        return key

    def outside_layers(self, covered: set[str]) -> list[str]:
        """Roots for the parameters outside the numbered layers (or every parameter, for a
        network without them): the largest modules holding none of ``covered``, else the
        loose parameters themselves."""
        if all(p.name in covered for p in self.info.parameters):
            return []
        layered = {la.prefix[:-1] for la in self.info.layers}
        roots: list[str] = []
        top = self.info.module("")
        stack = [top.path] if top is not None else []
        while stack:
            path = stack.pop()
            node = self.info.module(path)
            if node is None or path in layered:
                continue
            if path != "" and self.under.get(path) and not any(n in covered for n in self.under[path]):
                self.module(path, None, None)
                roots.append(path)
                continue
            roots += [self.parameter(n, n, None) for n in node.parameters if n not in covered]
            stack.extend(reversed(node.children))
        return roots


__all__ = ["ModelTree", "TreeEntry", "model_tree"]
