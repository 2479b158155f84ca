"""Checkpoints whose pickle is exactly an official file's but whose model YAML is hostile.

Each file is a real checkpoint from tests/make_checkpoints.py with only ``model.yaml`` changed:
the new values are plain strings, ints and lists, so the pickle names exactly the same globals
(tests/core/test_yaml_gate.py asserts it). Two kinds:

- ``LIVE``: yolov5's ``parse_model`` ``eval()``s the text, so building the model from the YAML
  (``DetectionModel(ckpt["model"].yaml)``, what our estimate and launcher would do without the
  gate) touches ``marker_for(outdir, name)``; most of them then build a working model.
- ``REFUSED``: values of the wrong type or size where yolov5 7.0.14 evaluates nothing (it would
  raise, or allocate without end); the gate refuses them all the same, so no later yolov5 that
  starts evaluating them can be reached through us.

Usage (needs torch and yolov5): python tests/yaml_payloads.py REAL.pt OUTDIR
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Edit = Callable[[dict[str, Any], str], None]  # (yaml dict to change in place, marker path)


def _touch(marker: str) -> str:
    return f"__import__('os').system('touch {marker}')"


def _head_row(d: dict[str, Any], module: str) -> list[Any]:
    return next(row for row in d["head"] if row[2] == module)


def _activation(d: dict[str, Any], m: str) -> None:
    d["activation"] = f"{_touch(m)} or nn.SiLU()"


def _activation_arg(d: dict[str, Any], m: str) -> None:
    d["activation"] = f"nn.SiLU(inplace={_touch(m)} == 0)"  # an allowlisted class, code in its argument


def _module_expr(d: dict[str, Any], m: str) -> None:
    d["backbone"][0][2] = f"Conv if {_touch(m)} == 0 else Conv"  # still builds the same network


def _module_dotted(d: dict[str, Any], m: str) -> None:
    d["backbone"][0][2] = "os.system"  # yolo.py's own `os`; parse_model calls it with the args
    d["backbone"][0][3] = [f"'touch {m}'"]


def _module_dunder(d: dict[str, Any], m: str) -> None:
    d["backbone"][0][2] = "Detect.__init__.__globals__['os'].system"  # yolo.py imports os
    d["backbone"][0][3] = [f"'touch {m}'"]


def _arg_expr(d: dict[str, Any], m: str) -> None:
    d["backbone"][0][3][0] = f"{_touch(m)} or 64"  # the channel count: evaluates to the same 64


def _upsample_mode(d: dict[str, Any], m: str) -> None:
    _head_row(d, "nn.Upsample")[3][2] = f"{_touch(m)} and 'nearest' or 'nearest'"


def _detect_anchors(d: dict[str, Any], m: str) -> None:
    _head_row(d, "Detect")[3][1] = f"{_touch(m)} or anchors"  # the 'anchors' name parse_model knows


def _detect_nc(d: dict[str, Any], m: str) -> None:
    _head_row(d, "Detect")[3][0] = f"{_touch(m)} or nc"


LIVE: dict[str, Edit] = {
    "activation_expr": _activation,
    "activation_arg": _activation_arg,
    "module_expr": _module_expr,
    "module_dotted": _module_dotted,
    "module_dunder": _module_dunder,
    "arg_expr": _arg_expr,
    "arg_upsample_mode": _upsample_mode,
    "detect_anchors": _detect_anchors,
    "detect_nc": _detect_nc,
}


def _set(key: str, value: Callable[[str], Any]) -> Edit:
    def edit(d: dict[str, Any], m: str) -> None:
        d[key] = value(m)

    return edit


def _from_text(d: dict[str, Any], m: str) -> None:
    _head_row(d, "Concat")[0] = f"{_touch(m)} or -1"


def _many_layers(d: dict[str, Any], m: str) -> None:
    d["head"] = d["head"][:-1] + [[-1, 1, "Conv", [64, 1, 1]]] * 5_000 + d["head"][-1:]


def _huge_number(d: dict[str, Any], m: str) -> None:
    d["backbone"][2][1] = 200_000_000  # a C3 repeated 2e8 times: parse_model builds range(n) of them


REFUSED: dict[str, Edit] = {
    "anchors_text": _set("anchors", lambda m: f"{_touch(m)} or 3"),
    "depth_multiple_text": _set("depth_multiple", lambda m: f"{_touch(m)} or 0.33"),
    "nc_text": _set("nc", lambda m: f"{_touch(m)} or 80"),
    "from_text": _from_text,
    "unknown_key_text": _set("postprocess", lambda m: f"{_touch(m)}"),
    "many_layers": _many_layers,
    "huge_number": _huge_number,
}
ALL: dict[str, Edit] = {**LIVE, **REFUSED}


def marker_for(outdir: Path, name: str) -> Path:
    return outdir / f"{name}.marker"


def payload_yaml(base: dict[str, Any], name: str, marker: Path) -> dict[str, Any]:
    d = copy.deepcopy(base)
    ALL[name](d, str(marker))
    return d


def write_payload_files(real: Path, outdir: Path) -> dict[str, Path]:
    """Write every payload checkpoint under ``outdir`` (one subprocess: it imports torch and yolov5)."""
    outdir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, str(real), str(outdir)], check=True, stdout=subprocess.DEVNULL,
                   cwd=Path(__file__).resolve().parents[1])
    return {name: outdir / f"yaml-{name}.pt" for name in ALL}


def payload_files(outdir: Path) -> dict[str, Path]:
    return {name: outdir / f"yaml-{name}.pt" for name in ALL}


def _main(real: Path, outdir: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import yolov5.models.yolo  # noqa: F401  (the file's classes, to unpickle and re-pickle it)

    outdir.mkdir(parents=True, exist_ok=True)
    # our own real checkpoint, written by tests/make_checkpoints.py: trusted
    ckpt = torch.load(real, map_location="cpu", weights_only=False)
    base = ckpt["model"].yaml
    for name in ALL:
        ckpt["model"].yaml = payload_yaml(base, name, marker_for(outdir, name))
        torch.save(ckpt, outdir / f"yaml-{name}.pt")
    (outdir / "names.json").write_text(json.dumps(sorted(ALL)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    _main(Path(sys.argv[1]), Path(sys.argv[2]))
