"""The classes the pickle scan lets a checkpoint *instantiate* are derived from the installed source.

``yolofreeze.core.checkpoint.safepickle.INSTANTIABLE`` is a static list (the reader never imports torch or yolov5). This
test derives the same list by reading the installed packages' source with ``ast`` — nothing is
imported — and asserts the two agree, so an upgrade that adds a layer class or gives a class a
``__setstate__`` of its own shows up here instead of as a false "hostile" or a silent hole.

Rules (what ``torch.load(weights_only=False)`` does with an nn.Module: ``NEWOBJ`` = ``cls.__new__``
only, then ``BUILD`` = ``__setstate__(state)``):
- a class is a candidate if it subclasses ``Module`` (resolved by base-class name across the files);
- it is left out if it, or any base, defines ``__new__``, ``__reduce__``, ``__reduce_ex__``, a
  metaclass, or a ``__setstate__`` that is not in the reviewed list below (reviewed ones only call
  ``Module.__setstate__`` and fill in defaults for old files).

Regenerate the static text after an upgrade: ``python -m tests.core.test_pickle_allowlist``.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.safepickle import CALLABLE_STUBS, INSTANTIABLE, MODULE_CLASSES


def _site() -> Path:
    """The folder holding torch (found without importing it: find_spec of a top-level name only
    locates the package)."""
    spec = importlib.util.find_spec("torch")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))).parent


SITE = _site()

# (file under site-packages, the module names pickles use for it)
SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    *(
        (f"torch/nn/modules/{p.name}", (f"torch.nn.modules.{p.stem}",))
        for p in sorted((SITE / "torch/nn/modules").glob("*.py"))
        if not p.stem.startswith("_")
    ),
    *((f"yolov5/models/{m}.py", (f"models.{m}", f"yolov5.models.{m}")) for m in ("common", "yolo", "experimental")),
    ("yolov5/utils/activations.py", ("utils.activations", "yolov5.utils.activations")),
    ("ultralytics/nn/tasks.py", ("ultralytics.nn.tasks",)),
    *(
        (f"ultralytics/nn/modules/{p.name}", (f"ultralytics.nn.modules.{p.stem}",))
        for p in sorted((SITE / "ultralytics/nn/modules").glob("*.py"))
        if p.stem != "__init__"
    ),
)

# __setstate__ methods read and judged harmless: super().__setstate__ plus defaults for old files.
REVIEWED_SETSTATE = {
    "Module",
    "_ConvNd",
    "AvgPool1d",
    "Upsample",
    "MultiheadAttention",
    "Softmin",
    "Softmax",
    "LogSoftmax",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "AAttn",
}
_RISKY = {"__new__", "__reduce__", "__reduce_ex__"}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


Rows = list[tuple[str, list[str], bool]]  # (class name, base names, tainted by its own body)


def _scan(rel: str) -> tuple[Rows, list[tuple[str, str]]]:
    """One source file's top-level classes, and its ``Alias = Class`` assignments."""
    rows: Rows = []
    aliases: list[tuple[str, str]] = []
    for node in ast.parse((SITE / rel).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            methods = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            tainted = bool(methods & _RISKY) or any(k.arg == "metaclass" for k in node.keywords)
            if "__setstate__" in methods and node.name not in REVIEWED_SETSTATE:
                tainted = True
            rows.append((node.name, [_base_name(b) for b in node.bases], tainted))
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Name)
        ):
            aliases.append((node.targets[0].id, node.value.id))
    return rows, aliases


def _modules_and_tainted(classes: dict[str, Rows]) -> tuple[set[str], set[str]]:
    """Fixpoint over base-class names across all files: nn.Module subclasses, and tainted classes."""
    modules = {"Module"}
    tainted: set[str] = set()
    changed = True
    while changed:
        changed = False
        for rows in classes.values():
            for name, bases, self_tainted in rows:
                if name not in modules and any(b in modules for b in bases):
                    modules.add(name)
                    changed = True
                if name not in tainted and (self_tainted or any(b in tainted for b in bases)):
                    tainted.add(name)
                    changed = True
    return modules, tainted


def derive() -> dict[str, tuple[str, ...]]:
    """module name -> class names a checkpoint may instantiate without running their __init__."""
    scanned = {rel: _scan(rel) for rel, _ in SOURCES}
    classes = {rel: rows for rel, (rows, _) in scanned.items()}
    modules, tainted = _modules_and_tainted(classes)
    out: dict[str, tuple[str, ...]] = {}
    for rel, mod_names in SOURCES:
        names = {n for n, _, _ in classes[rel] if n in modules and n not in tainted and n != "Module"}
        names |= {a for a, target in scanned[rel][1] if target in names}
        if names:
            for m in mod_names:
                out[m] = tuple(sorted(names))
    return out


def render(table: dict[str, tuple[str, ...]]) -> str:
    """The static text in checkpoint.safepickle: ``module: Name Name ...``, continuation lines indented."""
    import textwrap

    lines = []
    for mod in sorted(table):
        lines.extend(textwrap.wrap(f"{mod}: {' '.join(table[mod])}", 108, subsequent_indent="    "))
    return "\n".join(lines)


def test_static_instantiable_list_matches_the_installed_source() -> None:
    derived = {(m, n) for m, names in derive().items() for n in names}
    static = set(MODULE_CLASSES)
    missing, extra = sorted(derived - static), sorted(static - derived)
    assert not missing and not extra, (
        f"regenerate with python -m tests.core.test_pickle_allowlist; missing {missing[:8]}, extra {extra[:8]}"
    )


def test_the_list_holds_what_real_checkpoints_use_and_not_the_risky_ones() -> None:
    for name in (
        "torch.nn.modules.conv.Conv2d",
        "torch.nn.modules.container.Sequential",
        "models.yolo.DetectionModel",
        "models.yolo.Model",
        "yolov5.models.common.C3",
        "ultralytics.nn.modules.block.C2f",
        "ultralytics.nn.tasks.DetectionModel",
    ):
        mod, _, cls = name.rpartition(".")
        assert (mod, cls) in INSTANTIABLE, name
    # RNNBase.__setstate__ rebuilds flat weights (more than a __dict__ update): not instantiable.
    assert ("torch.nn.modules.rnn", "LSTM") not in INSTANTIABLE


@pytest.mark.parametrize("qual", sorted(f"{m}.{n}" for m, n in CALLABLE_STUBS))
def test_callable_stub_classes_run_no_custom_init(qual: str) -> None:
    """Classes a pickle may CALL (their __init__ runs): stdlib data types or, for the one
    ultralytics class, a SimpleNamespace subclass without __init__/__new__/__setstate__ of its own."""
    mod, _, cls = qual.rpartition(".")
    if mod.startswith("ultralytics."):
        rel = mod.replace(".", "/") + "/__init__.py"
        tree = ast.parse((SITE / rel).read_text(encoding="utf-8"))
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
        methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        assert not methods & {"__init__", "__new__", "__setstate__", "__reduce__", "__reduce_ex__"}
        assert [_base_name(b) for b in node.bases] == ["SimpleNamespace"]
    else:
        assert mod in ("datetime", "argparse", "builtins", "__builtin__", "torch"), qual


if __name__ == "__main__":
    print(render(derive()))
