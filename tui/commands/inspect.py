"""``yolofreeze-tui inspect PATH [--json]``: what the checkpoint holds, read without torch.

Every string here comes from the file (class names, module names, metadata, warnings, globals):
the table writes each through ``safe_text`` and the JSON is pure ASCII with every control, DEL,
C1, bidi and lone-surrogate character as a ``\\u`` escape, so no file can drive the terminal or
hide the HOSTILE line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.errors import EXIT_HOSTILE, EXIT_OK
from yolofreeze.core.training.options import model_image_step
from yolofreeze.tui.commands.common import add_checkpoint_argument, open_checkpoint
from yolofreeze.tui.format import human_bytes, human_count, safe_text

# Past this many bits an int has over 4,300 digits: str() raises (CPython's limit), so it is shown
# by size; past this many items (a shared-reference structure expands exponentially as a tree)
# the rest is cut.
_MAX_INT_BITS = 14_000
_MAX_JSON_ITEMS = 1_000_000
_MAX_JSON_DEPTH = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_checkpoint_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def info_document(info: ModelInfo) -> dict[str, Any]:
    return {
        "path": info.path,
        "file_size": info.file_size,
        "container": info.container,
        "kind": info.kind,
        "source": info.source,
        "model_class": info.model_class,
        "hostile": info.hostile,
        "suspicious_globals": list(info.suspicious),
        "yaml_problems": [asdict(pr) for pr in info.yaml_problems],
        "globals": list(info.globals),
        "warnings": list(info.warnings),
        "total_params": info.total_params,
        "backbone_layers": info.backbone_layers,
        "metadata": asdict(info.metadata),
        "yaml": info.yaml,
        "layers": [
            {
                "index": la.index,
                "type": la.type,
                "from": list(la.from_),
                "repeats": la.repeats,
                "args": list(la.args),
                "section": la.section,
                "params": info.layer_params[la.index],
            }
            for la in info.layers
        ],
        "parameters": [
            {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "numel": t.numel, "bytes": t.nbytes}
            for t in info.parameters
        ],
        "buffers": [
            {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "numel": t.numel, "bytes": t.nbytes}
            for t in info.buffers
        ],
        "modules": [
            {"path": m.path, "type": m.type, "class": m.qualname, "children": list(m.children)} for m in info.modules
        ],
    }


def _num(x: object) -> str:
    """A number from the file, never a traceback: ints of 5,000 digits are shown by their size."""
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > _MAX_INT_BITS:
        return f"<integer of {x.bit_length():,} bits>"
    return safe_text(x)


def print_summary(info: ModelInfo) -> None:
    out = sys.stdout
    esc = safe_text
    # The verdict comes first and again last: nothing printed between can scroll it out of a
    # `| head` or push it off the screen, and no file string can reach the terminal unescaped.
    if info.hostile:
        out.write(f"HOSTILE    references code that could run when loaded: {esc(', '.join(info.suspicious))}\n")
    out.write(f"{esc(info.path)}  ({human_bytes(info.file_size)}, {esc(info.container)}, {esc(info.kind)}")
    out.write(f", network in '{esc(info.source)}')\n" if info.source else ")\n")
    if info.model_class:
        out.write(f"class      {esc(info.model_class)}\n")
    m = info.metadata
    out.write(
        f"parameters {info.total_params:,} in {len(info.parameters)} tensors; "
        f"{len(info.buffers)} buffers; {len(info.layers)} layers"
    )
    if info.backbone_layers is not None:
        out.write(f" (backbone 0-{info.backbone_layers - 1})")
    out.write("\n")
    if m.nc is not None:
        shown = ", ".join(esc(x) for x in m.names[:6])
        names = f": {shown}{' …' if len(m.names) > 6 else ''}" if m.names else ""
        out.write(f"classes    {_num(m.nc)}{names}\n")
    if m.stride:
        out.write(f"strides    {', '.join(_num(x) for x in m.stride)} (image sizes step by {model_image_step(info)})\n")
    if m.epoch is not None:
        out.write(f"epoch      {_num(m.epoch)}{' (stripped)' if m.epoch == -1 else ''}\n")
    for w in info.warnings:
        out.write(f"note       {esc(w)}\n")
    for pr in info.yaml_problems:  # yolov5 would eval() these when it builds the model
        out.write(f"HOSTILE    model YAML {esc(pr.describe())}\n")
    if info.layers:
        out.write(f"\n{'#':>3} {'section':<8} {'type':<10} {'from':<12} {'n':>2} {'params':>9}\n")
        for la in info.layers:
            n = info.layer_params[la.index]
            frm = esc(",".join(map(_num, la.from_)))
            out.write(
                f"{la.index:>3} {esc(la.section):<8} {esc(la.type):<10} {frm:<12} {_num(la.repeats):>2} "
                f"{human_count(n):>9}\n"
            )
    if info.hostile:
        out.write(f"HOSTILE    {len(info.suspicious)} reference(s) to code; see the first line\n")


def jsonable(x: Any) -> Any:
    """The document as plain JSON values, whatever the file put in it.

    Sets, tuples, bytes and reader stubs become lists or strings; ints over CPython's 4,300-digit
    str() limit become a string saying their size; nesting and the total item count are bounded,
    so a shared-reference structure (tiny on disk, exponential as a tree) cannot explode here.
    """
    budget = [_MAX_JSON_ITEMS]

    def conv(v: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > _MAX_JSON_DEPTH:
            return "…"
        if v is None or isinstance(v, bool | str | float):
            return v
        if isinstance(v, int):
            return v if v.bit_length() <= _MAX_INT_BITS else _num(v)
        if isinstance(v, dict):
            return {k if isinstance(k, str) else _num(k): conv(val, depth + 1) for k, val in v.items()}
        if isinstance(v, list | tuple | set | frozenset):
            return [conv(i, depth + 1) for i in v]
        return repr(v) if isinstance(v, bytes) else str(v)

    return conv(x, 0)


def dumps_safe(doc: Any) -> str:
    """Compact, pure-ASCII JSON: json.dumps escapes C0, C1, bidi and lone surrogates as \\uXXXX;
    DEL is the one control it leaves raw, so it is escaped here (it only occurs inside strings)."""
    return json.dumps(jsonable(doc), separators=(",", ":"), ensure_ascii=True).replace("\x7f", "\\u007f")


def run(args: argparse.Namespace) -> int:
    info = open_checkpoint(args)
    if args.json:
        # compact json.dumps on purpose: only it uses the C encoder (pipe to jq to read)
        sys.stdout.write(dumps_safe(info_document(info)) + "\n")
    else:
        print_summary(info)
    return EXIT_HOSTILE if info.hostile else EXIT_OK
