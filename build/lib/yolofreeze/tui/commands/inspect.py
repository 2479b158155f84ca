"""``yolofreeze-tui inspect PATH [--json]``: what the checkpoint holds, read without torch."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.errors import EXIT_HOSTILE, EXIT_OK
from yolofreeze.tui.commands.common import add_checkpoint_argument, open_checkpoint
from yolofreeze.tui.format import human_bytes, human_count


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
                "params": sum(p.numel for p in info.parameters if p.name.startswith(la.prefix)),
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


def print_summary(info: ModelInfo) -> None:
    out = sys.stdout
    out.write(f"{info.path}  ({human_bytes(info.file_size)}, {info.container}, {info.kind}")
    out.write(f", network in '{info.source}')\n" if info.source else ")\n")
    if info.model_class:
        out.write(f"class      {info.model_class}\n")
    m = info.metadata
    out.write(
        f"parameters {info.total_params:,} in {len(info.parameters)} tensors; "
        f"{len(info.buffers)} buffers; {len(info.layers)} layers"
    )
    if info.backbone_layers is not None:
        out.write(f" (backbone 0-{info.backbone_layers - 1})")
    out.write("\n")
    if m.nc is not None:
        names = f": {', '.join(m.names[:6])}{' …' if len(m.names) > 6 else ''}" if m.names else ""
        out.write(f"classes    {m.nc}{names}\n")
    if m.epoch is not None:
        out.write(f"epoch      {m.epoch}{' (stripped)' if m.epoch == -1 else ''}\n")
    for w in info.warnings:
        out.write(f"note       {w}\n")
    if info.hostile:
        out.write(f"HOSTILE    references code that could run when loaded: {', '.join(info.suspicious)}\n")
    if info.layers:
        out.write(f"\n{'#':>3} {'section':<8} {'type':<10} {'from':<12} {'n':>2} {'params':>9}\n")
        for la in info.layers:
            n = sum(p.numel for p in info.parameters if p.name.startswith(la.prefix))
            frm = ",".join(map(str, la.from_))
            out.write(f"{la.index:>3} {la.section:<8} {la.type:<10} {frm:<12} {la.repeats:>2} {human_count(n):>9}\n")


def run(args: argparse.Namespace) -> int:
    info = open_checkpoint(args)
    if args.json:
        # compact json.dumps on purpose: only it uses the C encoder (pipe to jq to read)
        sys.stdout.write(json.dumps(info_document(info), separators=(",", ":")) + "\n")
    else:
        print_summary(info)
    return EXIT_HOSTILE if info.hostile else EXIT_OK
