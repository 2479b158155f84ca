"""The design's import rules: core never loads Textual or Rich; the first screen never waits for torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[2]


def test_core_modules_never_import_textual_or_rich() -> None:
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    assert len(names) >= 5


# The tracer's internals exist only to run torch code; the estimator imports them inside its
# functions (in a worker or child process), so nothing on the way to a screen loads them.
TORCH_SIDE = {"core.memory.trace", "core.memory.cuda_autocast", "core.memory.skeleton", "core.memory.metacpu"}


def test_importing_core_does_not_import_torch() -> None:
    names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.") if m.name not in TORCH_SIDE]
    assert {"core.checkpoint", "core.freeze", "core.memory.estimator", "core.launch", "core.runs"} <= set(names)
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(sorted(m for m in ('torch', 'yolov5', 'ultralytics') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
