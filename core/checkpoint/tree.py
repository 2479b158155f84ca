"""The model as a tree of freezable nodes: sections, layers, modules, parameters.

The TUI shows this tree; each node stands for the set of parameters under it, so freezing a
node is ``plan.toggle(node.parameters)``. Counts, sizes and the per-node frozen share are
computed here once (or per plan, in O(node size)), never in a widget.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from yolofreeze.core.checkpoint.reader import LayerInfo, ModelInfo, TensorInfo

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
    entries: dict[str, TreeEntry] = {}
    tensors = {p.name: p for p in info.parameters}
    under = info.subtree_parameters

    def size(names: tuple[str, ...]) -> tuple[int, int]:
        return sum(tensors[n].numel for n in names), sum(tensors[n].nbytes for n in names)

    def add_module(path: str, parent: str | None, layer: LayerInfo | None) -> None:
        node = info.module(path)
        if node is None:
            return
        names = under.get(path, ())
        numel, nbytes = size(names)
        kids: list[str] = []
        for pname in node.parameters:
            t = tensors[pname]
            entries[pname] = TreeEntry(
                pname,
                "parameter",
                pname.rsplit(".", 1)[-1],
                "",
                (pname,),
                t.numel,
                t.nbytes,
                (),
                path,
                tensor=t,
            )
            kids.append(pname)
        for child in node.children:
            if under.get(child):  # modules without parameters (SiLU, Upsample) cannot be frozen
                add_module(child, path, None)
                kids.append(child)
        title = str(layer.index) if layer is not None else path.rsplit(".", 1)[-1] or "(root)"
        entries[path] = TreeEntry(
            path,
            "layer" if layer else "module",
            title,
            node.type,
            names,
            numel,
            nbytes,
            tuple(kids),
            parent,
            layer=layer,
        )

    roots: list[str] = []
    layered = {la.prefix[:-1] for la in info.layers}
    if info.layers:
        sections: dict[str, list[LayerInfo]] = {}
        for la in info.layers:
            sections.setdefault(la.section, []).append(la)
        for section, layers in sections.items():
            key = f"section:{section or 'layers'}"
            kids = []
            for la in layers:
                path = la.prefix[:-1]
                if info.module(path) is None:
                    continue
                add_module(path, key, la)
                kids.append(path)
            names = tuple(n for k in kids for n in entries[k].parameters)
            numel, nbytes = size(names)
            first, last = layers[0].index, layers[-1].index
            entries[key] = TreeEntry(
                key,
                "section",
                SECTION_TITLES.get(section, section),
                f"{first}-{last}",
                names,
                numel,
                nbytes,
                tuple(kids),
                None,
            )
            roots.append(key)
    # Parameters outside the numbered layers (or every parameter, for a network without them).
    covered = {n for k in roots for n in entries[k].parameters}
    rest = [p.name for p in info.parameters if p.name not in covered]
    if rest:
        top = info.module("")
        stack = [top.path] if top is not None else []
        while stack:
            path = stack.pop()
            node = info.module(path)
            if node is None:
                continue
            if path in layered:
                continue
            if path != "" and under.get(path) and not any(n in covered for n in under[path]):
                add_module(path, None, None)
                roots.append(path)
                continue
            for pname in node.parameters:
                if pname not in covered:
                    t = tensors[pname]
                    entries[pname] = TreeEntry(
                        pname, "parameter", pname, "", (pname,), t.numel, t.nbytes, (), None, tensor=t
                    )
                    roots.append(pname)
            stack.extend(reversed(node.children))
    return ModelTree(info, entries, tuple(roots))


__all__ = ["ModelTree", "TreeEntry", "model_tree"]
